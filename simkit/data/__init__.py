"""``simkit.data`` owns the dataset format: layout, manifest, split protocols, shard schema (docs/dataset-format.md).

Public API (what ``simkit render``, the ``simkit prepare`` adapters and the readers use):

* :mod:`simkit.data.schema` - ``GROUPS`` (groups of datasets with dtypes and symbolic shapes), ``decode``;
* :mod:`simkit.data.layout` - paths, ``origin``, ``protocol_entry``, ``read_manifest``, split files;
* :mod:`simkit.data.writer` - ``new_manifest``, ``DatasetWriter`` (atomic, resumable), ``write_shard``;
* :mod:`simkit.data.validate` - ``validate_shard``, ``validate_dataset`` (``simkit inspect``), ``summarize``;
* :mod:`simkit.data.opener` - ``open_dataset`` (cached; what tasks read through), ``DatasetInfo``;
* :mod:`simkit.data.synthetic` - synthetic datasets for tests, written by the real writer;
* :mod:`simkit.data.adapters` - the ``simkit prepare`` adapter registry;
* :mod:`simkit.data.datasets` - the torch datasets of the tasks over a ShardDataset base (direction, binaural).

Imported lazily: ``import simkit.data`` loads neither h5py nor torch.
"""
