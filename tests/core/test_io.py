"""Safe files: atomic writes keep the old file until the new one is complete."""
import os
import stat

import numpy as np
import pytest

from glassnet._core.files import atomic_write_bytes, load_npz, load_npz_meta, save_npz


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


# --- bounded reading (hostile-file defect 4) ---------------------------------------------

def _zip_with_raw_member(members, name, deflated, file_size):
    import hostile
    return hostile.zip_with_raw_member(members, name, deflated, file_size)


def _meta_member():
    import hostile
    return hostile.meta_member({"v": 1})


@pytest.mark.parametrize("content,looks", [
    (b'{"format": "glassnet-model", "params": {}}', "JSON text"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    (b"", "is empty"),
])
def test_json_and_png_are_not_npz_archives(tmp_path, content, looks):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_npz(path, "model")
    assert "not an npz archive" in str(info.value) and looks in str(info.value)
    assert "pickle" not in str(info.value)


def test_unknown_members_are_refused_or_skipped_without_decompressing(tmp_path):
    import hostile
    w = hostile.npy_bytes(np.arange(3.0))
    # the unknown member's deflate stream is garbage: decompressing it would fail
    content = _zip_with_raw_member({"__glassnet_meta__.npy": _meta_member(), "param/W.npy": w},
                                   "extra.npy", b"\xff" * 64, 1 << 20)
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    arrays, meta = load_npz(path, "model", accept=("param/",), unknown="skip")
    assert meta == {"v": 1} and list(arrays) == ["param/W"]
    np.testing.assert_array_equal(arrays["param/W"], np.arange(3.0))
    arrays, _ = load_npz(path, "model", accept=lambda name: name == "param/W",
                         unknown="skip")
    assert list(arrays) == ["param/W"]
    with pytest.raises(ValueError, match="holds 'extra', which a glassnet model file does "
                                         "not hold"):
        load_npz(path, "model", accept=("param/W",))


def test_sizes_are_checked_before_allocating(tmp_path):
    import tracemalloc

    import hostile
    # a 1 MB file whose extra member inflates to 1 GiB: refused from the zip's directory
    content = _zip_with_raw_member({"__glassnet_meta__.npy": _meta_member(),
                                    "param/W.npy": hostile.npy_bytes(np.ones(3))},
                                   "extra.npy", hostile.deflate_zeros(1024), 1 << 30)
    path = tmp_path / "bomb.npz"
    path.write_bytes(content)
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="declares 1073741\\d+ bytes of arrays"):
            load_npz(path, "model")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    # a member whose zip size lies small: the stream is cut there and fails its CRC
    lying = _zip_with_raw_member({"__glassnet_meta__.npy": _meta_member()}, "param/W.npy",
                                 hostile.deflate_zeros(64), 136)
    path.write_bytes(lying)
    with pytest.raises(ValueError, match="truncated or not a glassnet .npz"):
        load_npz(path, "model")


def test_max_bytes_and_check_header(tmp_path):
    path = tmp_path / "m.npz"
    save_npz(path, {"W": np.zeros((100, 10)), "b": np.zeros(10)}, {"v": 1})
    with pytest.raises(ValueError, match="needs 8000 bytes; only 1000 more are allowed"):
        load_npz(path, "model", max_bytes=1000)
    assert load_npz(path, "model", max_bytes=8080)[0]["W"].shape == (100, 10)
    seen = []

    def check(name, shape, dtype):
        seen.append((name, shape, dtype))
        if name == "W" and shape != (100, 5):
            raise ValueError(f"W has shape {shape}; the model has (100, 5)")
    with pytest.raises(ValueError, match=r"W has shape \(100, 10\)"):
        load_npz(path, "model", check_header=check)
    assert ("W", (100, 10), np.dtype("<f8")) in seen
    with pytest.raises(ValueError, match="unknown must be 'refuse' or 'skip'"):
        load_npz(path, "model", unknown="ignore")


def test_every_plain_dtype_and_order_round_trips(tmp_path):
    arrays = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3),
              "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              "bool": np.array([True, False]), "c128": np.array([1 + 2j]),
              "u32": np.arange(624, dtype=np.uint32), "scalar": np.array(3, dtype=np.int64),
              "empty": np.zeros((0, 4)), ">i4": np.arange(3, dtype=">i4")}
    path = tmp_path / "all.npz"
    save_npz(path, arrays, {"v": 1})
    back, _ = load_npz(path, "test")
    assert set(back) == set(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)


def test_zip64_archives_load_and_their_claims_are_checked(tmp_path, monkeypatch):
    import struct
    import zipfile
    path = tmp_path / "zip64.npz"
    with monkeypatch.context() as patch:  # make zipfile write its zip64 end records
        patch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
        save_npz(path, {"a": np.arange(3.0), "b": np.ones(2)}, {"v": 1})
    content = path.read_bytes()
    assert b"PK\x06\x06" in content and b"PK\x06\x07" in content
    arrays, meta = load_npz(path, "model")
    assert meta == {"v": 1} and arrays["a"].tolist() == [0.0, 1.0, 2.0]
    record = content.rfind(b"PK\x06\x06")
    for offset, value, message in [(32, 10 ** 9, "declares 1000000000 members"),
                                   (40, 1 << 40, "in a 1099511627776-byte directory")]:
        patched = bytearray(content)
        struct.pack_into("<Q", patched, record + offset, value)
        path.write_bytes(bytes(patched))
        with pytest.raises(ValueError, match=message):
            load_npz(path, "model")


def test_metadata_alone_is_read_without_touching_the_arrays(tmp_path):
    import hostile
    # the array member's deflate stream is garbage: reading it would fail
    content = _zip_with_raw_member({"__glassnet_meta__.npy": _meta_member()}, "param/W.npy",
                                   b"\xff" * 64, 1 << 20)
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    assert load_npz_meta(path, "model") == {"v": 1}
    with pytest.raises(ValueError, match="truncated or not a glassnet .npz"):
        load_npz(path, "model")
    path.write_bytes(hostile.npy_bytes(np.ones(2)))
    with pytest.raises(ValueError, match="not an npz archive"):
        load_npz_meta(path, "model")


def test_ctrl_c_while_the_archive_is_built_is_delivered_after_it(tmp_path, monkeypatch, ctrl_c):
    """A Ctrl-C landing while np.savez closes a zip member used to leave the member open,
    and the zip file's cleanup then raised ValueError instead of KeyboardInterrupt (the
    Solver turns that into a checkpoint and a clean exit). Now the signal waits for the
    archive: KeyboardInterrupt comes after it is complete, nothing is written, and no zip
    file is left half-closed."""
    import gc
    import signal
    import sys
    import zipfile
    original_close = zipfile._ZipWriteFile.close
    signals_sent, unraisable = [], []

    def close_with_ctrl_c(self):
        if not signals_sent:
            signals_sent.append(True)
            signal.raise_signal(signal.SIGINT)   # a real Ctrl-C, inside the close
        return original_close(self)

    monkeypatch.setattr(zipfile._ZipWriteFile, "close", close_with_ctrl_c)
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        save_npz(tmp_path / "a.npz", {"w": np.ones(3)}, {"k": 1})
    gc.collect()
    assert signals_sent and unraisable == [] and os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # put back
    save_npz(tmp_path / "b.npz", {"w": np.ones(3)}, {"k": 1})              # and it works
    assert load_npz(tmp_path / "b.npz", "test")[1] == {"k": 1}
