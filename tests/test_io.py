"""Safe files: atomic writes keep the old file until the new one is complete."""
import os
import stat

import numpy as np
import pytest

from glassnet._io import atomic_write_bytes, load_npz, save_npz


def test_new_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"abc")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode) == 0o644
    assert (tmp_path / "a.bin").read_bytes() == b"abc"


def test_replacement_keeps_the_old_files_permissions(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640 and target.read_bytes() == b"new"


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "model.npz"
    save_npz(target, {"w": np.arange(3.0)}, {"v": 1})
    before = target.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_npz(target, {"w": np.zeros(3)}, {"v": 2})
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_round_trip_and_refusals(tmp_path):
    path = tmp_path / "x.npy"   # exactly this name, whatever the extension
    save_npz(path, {"a": np.eye(2, dtype=np.float32)}, {"k": [1, "two"]})
    arrays, meta = load_npz(path, "test")
    assert meta == {"k": [1, "two"]} and arrays["a"].dtype == np.float32
    np.testing.assert_array_equal(arrays["a"], np.eye(2))

    truncated = tmp_path / "t.npz"
    truncated.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="truncated"):
        load_npz(truncated, "test")
    foreign = tmp_path / "f.npz"
    np.savez(foreign, a=np.ones(2))
    with pytest.raises(ValueError, match="not a glassnet test file"):
        load_npz(foreign, "test")
    pickled = tmp_path / "p.npz"
    np.savez(pickled, **{"__glassnet_meta__": np.frombuffer(b"{}", np.uint8),
                         "a": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(ValueError, match="pickle"):
        load_npz(pickled, "test")
    with pytest.raises(FileNotFoundError, match="no test file"):
        load_npz(tmp_path / "missing.npz", "test")
