"""Video: PyAV file I/O, the simulated egomotion video generator and camera-motion estimation."""
