"""Keep Numba's on-disk cache consistent with the package's sources.

Numba's ``cache=True`` checks only the source file of the function it loads: a compiled
function that calls kernels from other modules (the trainer's loops call the rules'
kernels through :mod:`spikesim.plasticity.base`'s dispatch, the forward pass calls the
event engine's kernel) is loaded from its cache even after one of those kernels was
edited, and runs the old code (numba/numba#1833, documented as a limitation of the cache).
So on import the package compares a stamp of every source file (path, size, modification
time) with the one stored beside the cache; if any file changed, every cached Numba file
of the package (``__pycache__/*.nbi``, ``*.nbc``) is removed and recompiled on first use.

An unchanged installation keeps its cache; a read-only installation is left as it is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["refresh_jit_cache", "source_stamp"]

_STAMP = "numba-sources.stamp"


def source_stamp(root: Path) -> str:
    """A digest of every ``*.py`` file under ``root``: relative path, size and modification
    time (ns)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def refresh_jit_cache(root: Path) -> bool:
    """Remove the Numba cache files under ``root`` if its sources changed since the stamp
    (``root/__pycache__/numba-sources.stamp``) was written; returns True if it removed
    them. Errors (a read-only tree, a file another process removed first) are ignored."""
    root = Path(root)
    stamp_file = root / "__pycache__" / _STAMP
    stamp = source_stamp(root)
    try:
        if stamp_file.read_text() == stamp:
            return False
    except OSError:
        pass
    try:
        for pattern in ("*.nbi", "*.nbc"):
            for path in root.rglob(f"__pycache__/{pattern}"):
                path.unlink(missing_ok=True)
        stamp_file.parent.mkdir(exist_ok=True)
        stamp_file.write_text(stamp)
    except OSError:
        return False
    return True


refresh_jit_cache(Path(__file__).parent)  # on import (spikesim/__init__.py imports this first)
