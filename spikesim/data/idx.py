"""Reading IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.

Format (LeCun et al.): a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM``
big-endian uint32 dimension sizes, then the data in C order. TYPE 0x08 is unsigned byte.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["read_idx"]

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file; raise ValidationError if they are not one."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValidationError(f"{name}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = _TYPES.get(raw[2])
    if dtype is None:
        raise ValidationError(f"{name}: unknown IDX data type 0x{raw[2]:02x}")
    ndim = raw[3]
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise ValidationError(f"{name}: truncated IDX header ({ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    n = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != n:
        raise ValidationError(
            f"{name}: IDX header says shape {shape} ({n} bytes of data) but the file holds "
            f"{body} bytes"
        )
    return (
        np.frombuffer(raw, dtype, offset=4 + 4 * ndim)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` is decompressed) into an array of its declared shape.

    Raises
    ------
    ValidationError
        Bad magic number, unknown type, or a size that does not match the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValidationError(f"{path}: cannot read IDX file ({exc})") from None
    return parse_idx(raw, str(path))
