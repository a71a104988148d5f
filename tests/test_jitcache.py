"""The Numba cache is dropped when any source of the package changes (Numba itself checks
only the file of the function it loads; numba/numba#1833)."""

from __future__ import annotations

import os

from spikesim._jitcache import refresh_jit_cache, source_stamp


def _tree(root):
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    cached = [root / "sub" / "__pycache__" / "b.f-1.py312.nbi", root / "__pycache__" / "a.g.nbc"]
    for path in cached:
        path.write_bytes(b"compiled")
    return cached


def test_cache_kept_while_sources_unchanged_and_dropped_after_an_edit(tmp_path):
    cached = _tree(tmp_path)
    assert refresh_jit_cache(tmp_path)  # no stamp yet: dropped, stamp written
    assert not any(p.exists() for p in cached)
    for path in cached:  # recompiled
        path.write_bytes(b"compiled")
    pyc = tmp_path / "__pycache__" / "a.cpython-312.pyc"
    pyc.write_bytes(b"bytecode")
    assert not refresh_jit_cache(tmp_path)
    assert all(p.exists() for p in cached) and pyc.exists()
    # an edit of another module's source drops every module's cache, not only its own
    b = tmp_path / "sub" / "b.py"
    st = b.stat()
    b.write_text("y = 3\n")
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert refresh_jit_cache(tmp_path)
    assert not any(p.exists() for p in cached)
    assert pyc.exists()  # Python's own bytecode is left alone


def test_stamp_depends_on_paths_sizes_and_times(tmp_path):
    _tree(tmp_path)
    s0 = source_stamp(tmp_path)
    assert source_stamp(tmp_path) == s0
    (tmp_path / "c.py").write_text("")
    assert source_stamp(tmp_path) != s0


def test_read_only_tree_is_left_alone(tmp_path):
    cached = _tree(tmp_path)
    for d in (tmp_path / "__pycache__", tmp_path / "sub" / "__pycache__"):
        d.chmod(0o555)
    try:
        if os.access(tmp_path / "__pycache__", os.W_OK):  # root ignores permissions
            return
        assert not refresh_jit_cache(tmp_path)
        assert all(p.exists() for p in cached)
    finally:
        for d in (tmp_path / "__pycache__", tmp_path / "sub" / "__pycache__"):
            d.chmod(0o755)
