"""Hostile files for the loaders, built by the tests themselves.

Each builder returns a list of ``(name, content, expect)``: ``content`` is the file's bytes
and ``expect`` is ``"error"`` (the loader must raise ValueError) or ``"either"`` (a mutation
that may leave a valid file: the loader returns or raises ValueError, nothing else).

Bombs are cheap to build: deflate blocks of zeros after a full flush are identical, so a
stream of ``n`` MiB of zeros is one head block, ``n - 1`` copies of the same block and an
end marker; a few KiB on disk.
"""
import gzip
import io
import pickle
import struct
import zipfile
import zlib

import numpy as np

MIB = 1 << 20

# --- pickle opcodes, assembled by hand --------------------------------------------------


def short_binstring(b):
    return b"U" + bytes([len(b)]) + b


def binunicode(text):
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def binint(i):
    return b"J" + struct.pack("<i", i)


def binbytes(b):
    return b"B" + struct.pack("<I", len(b)) + b


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def dtype_call(name="u1"):
    return glob("numpy", "dtype") + binunicode(name) + b"\x89\x88\x87R"


def plain_dtype(name="u1", order="|"):
    return dtype_call(name) + b"(" + binint(3) + binunicode(order) + b"NNN" + binint(-1) \
        + binint(-1) + binint(0) + b"tb"


def reconstruct(shape, dtype_ops, data_ops):
    """``_reconstruct(ndarray, (0,), b'b')`` BUILD ``(1, shape, dtype, False, data)``."""
    shape_ops = b"(" + b"".join(binint(d) if d < 2 ** 31 else b"\x8a\x08" +
                                struct.pack("<q", d) for d in shape) + b"t"
    return (glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray")
            + binint(0) + b"\x85" + binbytes(b"b") + b"\x87R"
            + b"(" + binint(1) + shape_ops + dtype_ops + b"\x89" + data_ops + b"tb")


def batch_pickle(data_ops, label_ops=None, n=2):
    """A protocol-2 dict {b'data': <data_ops>, b'labels': <label_ops>}."""
    if label_ops is None:
        label_ops = b"](" + b"".join(binint(i % 10) for i in range(n)) + b"e"
    return (b"\x80\x02}(" + short_binstring(b"data") + data_ops + short_binstring(b"labels")
            + label_ops + b"u.")


def valid_batch(protocol, n=2, seed=0):
    rng = np.random.RandomState(seed)
    batch = {b"batch_label": b"training batch 1 of 5",
             b"labels": rng.randint(0, 10, size=n).tolist(),
             b"data": rng.randint(0, 256, size=(n, 3072)).astype(np.uint8),
             b"filenames": [b"img%d.png" % i for i in range(n)]}
    return pickle.dumps(batch, protocol=protocol)


def zeros_list(n):
    """A pickled list of ``n`` zeros (two bytes each)."""
    return b"](" + b"K\x00" * n + b"e"


def crafted_cifar_pickles():
    """The crafted batches of the hostile-file report, and more of the same spirit."""
    pixels = binbytes(bytes(2 * 3072))
    u1 = plain_dtype()
    # dtype changed by BUILD after its check: one field at offset 4096 in a 1-byte item
    fields = ("(" .encode() + binint(3) + binunicode("|") + b"N" + binunicode("a") + b"\x85"
              + b"}" + binunicode("a") + u1 + binint(4096) + b"\x86s"
              + binint(1) + binint(1) + binint(16) + b"tb")
    object_flags = (b"(" + binint(3) + binunicode("|") + b"NNN" + binint(-1) + binint(-1)
                    + binint(63) + b"tb")
    ndarray_call = lambda args: glob("numpy", "ndarray") + args + b"R"
    huge = 1 << 40
    unbuilt_array = (glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray")
                     + binint(0) + b"\x85" + binbytes(b"b") + b"\x87R")
    cases = {
        "dtype-build-field-offset": batch_pickle(reconstruct((2, 3072), dtype_call() + fields,
                                                             pixels)),
        "dtype-build-object-flags": batch_pickle(reconstruct((2, 3072),
                                                             dtype_call() + object_flags, pixels)),
        "dtype-structured": batch_pickle(reconstruct((2, 3072), plain_dtype("V1"), pixels)),
        "dtype-object": batch_pickle(reconstruct((2, 3072), plain_dtype("O"), pixels)),
        "dtype-build-twice": batch_pickle(reconstruct((2, 3072), u1[:-1] + b"b" + b"(" + binint(3)
                                                      + binunicode("<") + b"NNN" + binint(-1)
                                                      + binint(-1) + binint(0) + b"tb", pixels)),
        "ndarray-zero-strides": batch_pickle(ndarray_call(
            b"(" + binint(100000) + binint(3072) + b"\x86" + u1 + binbytes(b"\x00") + binint(0)
            + binint(0) + binint(0) + b"\x86t"), zeros_list(100000)),
        "ndarray-no-buffer": batch_pickle(ndarray_call(b"(" + binint(10000) + binint(3072)
                                                       + b"\x86" + u1 + b"t"),
                                          zeros_list(10000)),
        "declared-1e12-elements": batch_pickle(reconstruct((10 ** 12 // 3072 + 1, 3072), u1,
                                                           pixels)),
        "declared-shape-2^62": batch_pickle(reconstruct((1 << 62, 3072), u1, pixels)),
        "negative-shape": batch_pickle(reconstruct((-2, 3072), u1, pixels)),
        "short-data": batch_pickle(reconstruct((3, 3072), u1, pixels)),
        "binbytes8-2^40": b"\x80\x04\x8e" + struct.pack("<Q", huge) + b"abc",
        "binunicode8-2^40": b"\x80\x04\x8d" + struct.pack("<Q", huge) + b"abc",
        "bytearray8-2^40": b"\x80\x05\x96" + struct.pack("<Q", huge) + b"abc",
        "frame-2^40": b"\x80\x04\x95" + struct.pack("<Q", huge) + b"}.",
        "long4-2^31": b"\x80\x02\x8b" + struct.pack("<i", 2 ** 31 - 1) + b"x",
        "binstring-negative": b"\x80\x02T" + struct.pack("<i", -5) + b"x",
        "out-of-band-buffer": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                            b"labels": [0, 1]}, protocol=5,
                                           buffer_callback=lambda b: False),
        "os-system": b"\x80\x02" + glob("os", "system") + binunicode("true") + b"\x85R.",
        "builtins-eval": b"\x80\x02" + glob("builtins", "eval") + binunicode("1") + b"\x85R.",
        "newobj": b"\x80\x02" + glob("numpy", "ndarray") + b")\x81.",
        "persistent-id": b"\x80\x02" + binunicode("x") + b"Q.",
        "inst": b"(ios\nsystem\n.",
        "protocol-9": b"\x80\x09}.",
        "memo-get-missing": b"\x80\x02h\x07.",
        "stack-underflow": b"\x80\x02a.",
        "appends-without-mark": b"\x80\x02]e.",
        "build-on-dict": b"\x80\x02}}b.",
        "unhashable-key": b"\x80\x02}]K\x01s.",
        "tuple-key": b"\x80\x02}K\x01\x85K\x01s.",
        "deep-nesting": b"\x80\x02" + b"]" * 200000 + b"a" * 199999 + b".",
        "labels-huge-int": batch_pickle(reconstruct((2, 3072), u1, pixels),
                                        b"](\x8b" + struct.pack("<i", 100000) + b"\x01" * 100000
                                        + binint(0) + b"e"),
        "labels-text": batch_pickle(reconstruct((2, 3072), u1, pixels),
                                    b"](" + binunicode("a") + binint(0) + b"e"),
        "labels-out-of-range": batch_pickle(reconstruct((2, 3072), u1, pixels),
                                            b"](" + binint(10) + binint(-1) + b"e"),
        "labels-wrong-count": batch_pickle(reconstruct((2, 3072), u1, pixels),
                                           b"](" + binint(1) + b"e"),
        "labels-float-array": batch_pickle(reconstruct((2, 3072), u1, pixels),
                                           reconstruct((2,), plain_dtype("f8", "<"),
                                                       binbytes(bytes(16)))),
        "labels-array-never-built": batch_pickle(reconstruct((2, 3072), u1, pixels),
                                                 unbuilt_array),
        "data-array-never-built": batch_pickle(unbuilt_array),
        "data-int64": batch_pickle(reconstruct((2, 3072), plain_dtype("i8", "<"),
                                               binbytes(bytes(2 * 3072 * 8)))),
        "data-missing": b"\x80\x02}(" + short_binstring(b"labels") + b"]u.",
        "not-a-dict": pickle.dumps([1, 2, 3], protocol=2),
        "trailing-bytes": valid_batch(2) + b"junk",
        "empty": b"",
        "json-text": b'{"data": [1, 2], "labels": [0]}',
        "png-image": b"\x89PNG\r\n\x1a\n" + bytes(64),
    }
    # _codecs.encode called again and again on one memoised string: far more bytes than the
    # file holds
    text = "x" * 50000
    amplify = (b"\x80\x02" + glob("_codecs", "encode") + b"q\x00" + binunicode(text) + b"q\x01"
               + binunicode("latin1") + b"q\x02" + b"]q\x03("
               + b"h\x00h\x01h\x02\x86R" * 3000 + b"e.")
    cases["codecs-encode-amplification"] = amplify
    return [(name, content, "error") for name, content in cases.items()]


def truncations(content, count, seed=0):
    """``content`` cut at ``count`` offsets (the first bytes, the last bytes, random)."""
    rng = np.random.RandomState(seed)
    ends = set(range(0, min(len(content), 24))) | set(range(max(0, len(content) - 24),
                                                         len(content)))
    ends |= set(rng.randint(0, len(content), size=count).tolist())
    return [content[:end] for end in sorted(ends)][:count]


def bit_flips(content, count, seed=0, region=None):
    """``content`` with one random bit flipped, ``count`` times (within ``region`` if given)."""
    rng = np.random.RandomState(seed)
    lo, hi = region or (0, len(content))
    hi = min(hi, len(content))
    out = []
    for _ in range(count):
        at = rng.randint(lo, hi)
        flipped = bytearray(content)
        flipped[at] ^= 1 << rng.randint(8)
        out.append(bytes(flipped))
    return out


_STOMPS = (b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80",
           b"\x00\x00\x00\x00", b"\xff" * 8, b"\x00\x00\x00\x00\x00\x01\x00\x00")


def stomps(content, count, seed=0, region=None):
    """``content`` with a few bytes overwritten by extreme values (huge or zero lengths,
    sizes and counts), ``count`` times."""
    rng = np.random.RandomState(seed + 1000)
    lo, hi = region or (0, len(content))
    out = []
    for _ in range(count):
        value = _STOMPS[rng.randint(len(_STOMPS))]
        at = rng.randint(lo, max(lo + 1, hi - len(value) + 1))
        out.append(content[:at] + value + content[at + len(value):])
    return out


def mutated(name, content, n_cut, n_flip, seed=0, region=None):
    """Truncations (must fail), bit flips and byte stomps (may leave a valid file)."""
    cuts = [(f"{name}-cut{i}", c, "error") for i, c in
            enumerate(truncations(content, n_cut, seed)) if len(c) < len(content)]
    flips = [(f"{name}-flip{i}", c, "either") for i, c in
             enumerate(bit_flips(content, n_flip, seed, region))]
    stomped = [(f"{name}-stomp{i}", c, "either") for i, c in
               enumerate(stomps(content, n_flip, seed, region))]
    return cuts + flips + stomped


# --- bombs ------------------------------------------------------------------------------

def deflate_zeros(n_mib):
    """A raw deflate stream (no header) of ``n_mib`` MiB of zero bytes, built in O(1) time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MIB)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + middle * (n_mib - 1) + compressor.flush()


def gzip_bomb(prefix, n_mib):
    """A gzip file holding ``prefix`` then ``n_mib`` MiB of zeros (checksums are wrong: the
    reader must stop long before reaching them)."""
    deflated = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflated.compress(prefix) + deflated.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff"
    return header + head + deflate_zeros(n_mib) + struct.pack("<II", 0, 0)


def zlib_bomb(prefix, n_mib):
    """A zlib stream of ``prefix`` then ``n_mib`` MiB of zeros (adler32 left wrong)."""
    deflated = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflated.compress(prefix) + deflated.flush(zlib.Z_FULL_FLUSH)
    return b"\x78\xda" + head + deflate_zeros(n_mib) + bytes(4)


# --- npz archives -----------------------------------------------------------------------

META = "__glassnet_meta__"


def npy_bytes(array=None, header=None, data=None):
    """A .npy member: ``array`` as np.save writes it, or a hand-made ``header`` and data."""
    if header is None:
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=True)
        return buf.getvalue()
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + (data or b"")


def meta_member(meta=None):
    return npy_bytes(np.frombuffer(json_bytes(meta or {"format": "test"}), dtype=np.uint8))


def json_bytes(obj):
    import json
    return json.dumps(obj).encode()


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    """A zip archive of ``{name: bytes}``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def zip_with_raw_member(members, name, deflated, file_size, crc=0):
    """A zip archive of stored ``members`` plus ``name`` whose deflated bytes and declared
    uncompressed size are given as they are (a zip bomb, or a lying header)."""
    out = io.BytesIO()
    central = []
    entries = [(n, d, zipfile.ZIP_STORED, len(d), zlib.crc32(d)) for n, d in members.items()]
    entries.append((name, deflated, zipfile.ZIP_DEFLATED, file_size, crc))
    for n, data, method, size, checksum in entries:
        offset = out.tell()
        raw_name = n.encode()
        out.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0, checksum,
                              len(data), size, len(raw_name), 0) + raw_name + data)
        central.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, method, 0, 0,
                                   checksum, len(data), size, len(raw_name), 0, 0, 0, 0, 0,
                                   offset) + raw_name)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries),
                                      len(entries), len(directory), start, 0))
    return out.getvalue()


def gzip_of(data):
    return gzip.compress(data, mtime=0)


# --- npz archives -----------------------------------------------------------------------

def hostile_npz_files(save_npz_bytes):
    """``(name, content, expect)`` for ``load_npz(path, 'model')``; ``save_npz_bytes`` returns
    the bytes :func:`glassnet._core.files.save_npz` writes for ``(arrays, meta)``."""
    arrays = {"param/W1": np.arange(12.0).reshape(3, 4), "param/b1": np.zeros(4, np.float32)}
    valid = save_npz_bytes(arrays, {"format": "test", "version": 1})
    meta = meta_member()
    w = npy_bytes(np.ones(3))
    bomb = deflate_zeros(1024)

    def with_member(name, data):
        return zip_bytes({META + ".npy": meta, "param/W1.npy": w, name: data})

    def header(text, data=b""):
        return with_member("x.npy", npy_bytes(header=text, data=data))

    cases = [
        ("json-model", b'{"format": "glassnet-model", "params": {}}', "error"),
        ("png-model", b"\x89PNG\r\n\x1a\n" + bytes(100), "error"),
        ("empty", b"", "error"),
        ("single-npy", npy_bytes(np.ones(3)), "error"),
        ("pickle", pickle.dumps({"W": [1, 2]}), "error"),
        ("extra-member-1GiB", zip_with_raw_member({META + ".npy": meta, "param/W1.npy": w},
                                                  "extra.npy", bomb, 1 << 30), "error"),
        ("member-lies-small", zip_with_raw_member({META + ".npy": meta}, "param/W1.npy", bomb,
                                                  len(w)), "error"),
        ("member-claims-4GiB", zip_with_raw_member({META + ".npy": meta}, "param/W1.npy",
                                                   bomb, 0xFFFFFFF0), "error"),
        ("object-array", with_member("x.npy", npy_bytes(np.array([{"a": 1}], dtype=object))),
         "error"),
        ("descr-int", header("{'descr': 5, 'fortran_order': False, 'shape': (1,), }"),
         "error"),
        ("descr-unicode", header("{'descr': '<U10', 'fortran_order': False, 'shape': (1,), }",
                                 bytes(40)), "error"),
        ("descr-void", header("{'descr': '|V8', 'fortran_order': False, 'shape': (1,), }",
                              bytes(8)), "error"),
        ("descr-datetime", header("{'descr': '<M8[s]', 'fortran_order': False, "
                                  "'shape': (1,), }", bytes(8)), "error"),
        ("descr-structured", header("{'descr': [('a', '<f8')], 'fortran_order': False, "
                                    "'shape': (1,), }", bytes(8)), "error"),
        ("shape-text", header("{'descr': '<f8', 'fortran_order': False, 'shape': 'abc', }"),
         "error"),
        ("shape-negative", header("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }"),
         "error"),
        ("shape-float", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,), }",
                               bytes(16)), "error"),
        ("shape-2^40", header("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,"
                              "), }", bytes(8)), "error"),
        ("shape-disagrees", header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                   bytes(8)), "error"),
        ("fortran-text", header("{'descr': '<f8', 'fortran_order': 'no', 'shape': (1,), }",
                                bytes(8)), "error"),
        ("header-list", header("['descr', '<f8']", bytes(8)), "error"),
        ("header-deep", header("[" * 5000 + "]" * 5000), "error"),
        ("header-expression", header("__import__('os').system('true')"), "error"),
        ("header-4GiB", with_member("x.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 32 - 1)
                                    + bytes(64)), "error"),
        ("not-npy-member", with_member("readme.txt", b"hello"), "error"),
        ("meta-not-json", zip_bytes({META + ".npy": npy_bytes(np.frombuffer(b"{nope",
                                                                            np.uint8))}),
         "error"),
        ("meta-deep-json", zip_bytes({META + ".npy": npy_bytes(np.frombuffer(
            b"[" * 100000 + b"]" * 100000, np.uint8))}), "error"),
        ("meta-list", zip_bytes({META + ".npy": npy_bytes(np.frombuffer(b"[1]", np.uint8))}),
         "error"),
        ("meta-float", zip_bytes({META + ".npy": npy_bytes(np.zeros(3))}), "error"),
        ("meta-huge-int", zip_bytes({META + ".npy": npy_bytes(np.frombuffer(
            b'{"a": ' + b"9" * 100000 + b"}", np.uint8))}), "error"),
        ("no-meta", zip_bytes({"param/W1.npy": w}), "error"),
        ("bzip2-member", zip_bytes({META + ".npy": meta, "param/W1.npy": w},
                                   zipfile.ZIP_BZIP2), "error"),
        ("directory-claims-10^9-members", _eocd_claims(valid, 0xFFFF, 0xFFFFFFF0), "error"),
    ]
    cases += mutated("valid", valid, 150, 150, seed=7)
    deflated = _deflated_copy(valid)
    cases.append(("deflated", deflated, "ok"))
    cases += mutated("deflated", deflated, 100, 150, seed=8)
    return cases


def _deflated_copy(content):
    """The same archive with every member deflated (as ``np.savez_compressed`` writes)."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return zip_bytes({name: archive.read(name) for name in archive.namelist()},
                         zipfile.ZIP_DEFLATED)


def _eocd_claims(content, entries, directory_bytes):
    at = content.rfind(b"PK\x05\x06")
    patched = bytearray(content)
    struct.pack_into("<2HI", patched, at + 8, entries, entries, directory_bytes)
    return bytes(patched)

