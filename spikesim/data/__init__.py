"""Datasets: Fashion-MNIST and MNIST (IDX files), scikit-learn digits, synthetic tasks.

``spikesim.data.load(name, ...)`` returns a :class:`Dataset` with inputs scaled to
``[0, 1]`` and integer labels. Loaders are registered by name (:func:`available`); a
missing dataset raises :class:`~spikesim.errors.DatasetNotFoundError` saying how to get it.
"""

from spikesim.data.base import Dataset, available, load, register
from spikesim.data.idx import read_idx

# importing the loader modules registers them
from spikesim.data import images  # noqa: E402  isort: skip
from spikesim.data import synthetic  # noqa: E402  isort: skip

__all__ = ["Dataset", "available", "images", "load", "read_idx", "register", "synthetic"]
