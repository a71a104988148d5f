"""The installed version of spikesim (one source: ``pyproject.toml``'s ``version``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spikesim")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
