"""Torch datasets over a dataset's shards, one module per task (docs/dataset-format.md).

* :mod:`simkit.data.datasets.base` - :class:`ShardDataset`: HDF5 handles per process, subsets, epochs;
* :mod:`simkit.data.datasets.direction` - ``RenderViewSets`` (the ``direction`` task), the derived protocols;
* :mod:`simkit.data.datasets.binaural` - ``BinauralClips`` (``binauralize``, ``av_localize``).

Imported lazily (h5py, torch): ``import simkit.data.datasets`` loads neither.
"""
