"""simkit: acoustic simulation and benchmark toolkit for audio-visual spatial hearing."""

__version__ = "0.1.0"
