"""Downloads from a local HTTP server on 127.0.0.1 serving archives built here.

No test contacts an outside address: every URL points at the server this file starts.
"""
import functools
import hashlib
import http.server
import io
import os
import sys
import tarfile
import threading

import numpy as np
import pytest

from glassnet.datasets import Remote, download, load_CIFAR10, load_dataset
from glassnet.datasets.download import REMOTES

from test_datasets_cifar10 import expected_nhwc, write_python_batches
from test_datasets_idx import write_mnist_folder

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; under /short/ it announces the full length but sends half, then
    hangs up (an interrupted transfer)."""

    def do_GET(self):
        if self.path.startswith("/short/"):
            with open(os.path.join(self.directory, self.path[len("/short/"):]), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(base URL, folder served) of a thread-run server on an ephemeral 127.0.0.1 port."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_Handler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def digest(path, algorithm="md5"):
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def serve_mnist(served):
    return write_mnist_folder(str(served), n_train=12, n_test=4, gz=True)


def mnist_remotes(base, served, prefix=""):
    return [Remote(base + prefix + name, name, "md5:" + digest(served / name))
            for name in IDX_NAMES]


def test_download_mnist_then_load(server, tmp_path):
    base, served = server
    arrays = serve_mnist(served)
    root = tmp_path / "cache"
    folder = download("mnist", root=str(root), remotes=mnist_remotes(base, served),
                      progress=False)
    assert folder == str(root / "mnist")
    assert sorted(os.listdir(folder)) == sorted(IDX_NAMES)
    assert os.listdir(root) == ["mnist"]  # no staging folder left behind
    data = load_dataset("mnist", path=folder, num_validation=2)
    np.testing.assert_allclose(data["X_test"][:, 0], arrays["t10k-images-idx3-ubyte"] / 255,
                               rtol=1e-6)


def test_download_into_default_cache_is_found_by_load_dataset(server, tmp_path, monkeypatch):
    base, served = server
    serve_mnist(served)
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "system"))
    folder = download("mnist", remotes=mnist_remotes(base, served), progress=True)
    assert folder == str(tmp_path / "xdg" / "glassnet" / "mnist")
    assert load_dataset("mnist", num_validation=2)["X_train"].shape == (10, 1, 28, 28)


def test_download_cifar10_archive_with_sha256(server, tmp_path):
    base, served = server
    train, test = write_python_batches(str(tmp_path / "build" / "cifar-10-batches-py"))
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    remote = Remote(base + archive.name, archive.name, "sha256:" + digest(archive, "sha256"))
    root = tmp_path / "cache"
    folder = download("cifar10", root=str(root), remotes=[remote], progress=False)
    assert os.listdir(folder) == ["cifar-10-batches-py"]  # the archive itself is not kept
    Xtr, Ytr, Xte, Yte = load_CIFAR10(os.path.join(folder, "cifar-10-batches-py"))
    np.testing.assert_array_equal(Xtr, expected_nhwc(train)[0])
    # a second download replaces the folder in place (and still leaves no staging)
    download("cifar10", root=str(root), remotes=[remote], progress=False)
    assert os.listdir(root) == ["cifar10"] and os.listdir(folder) == ["cifar-10-batches-py"]


def _assert_nothing_left(root):
    assert not os.path.exists(root) or os.listdir(root) == []


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    base, served = server
    serve_mnist(served)
    remotes = mnist_remotes(base, served)
    remotes[3] = remotes[3]._replace(checksum="md5:" + "0" * 32)  # the last file is bad
    root = tmp_path / "cache"
    with pytest.raises(ValueError, match="checksum mismatch .*t10k-labels"):
        download("mnist", root=str(root), remotes=remotes, progress=False)
    _assert_nothing_left(root)


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    base, served = server
    serve_mnist(served)
    remotes = mnist_remotes(base, served)
    remotes[0] = remotes[0]._replace(url=base + "short/" + IDX_NAMES[0])
    root = tmp_path / "cache"
    with pytest.raises(OSError, match="interrupted transfer"):
        download("mnist", root=str(root), remotes=remotes, progress=False)
    _assert_nothing_left(root)


def test_missing_file_on_server_leaves_nothing(server, tmp_path):
    base, served = server
    root = tmp_path / "cache"
    with pytest.raises(OSError) as info:
        download("mnist", root=str(root), progress=False,
                 remotes=[Remote(base + "absent.gz", "absent.gz", "md5:" + "0" * 32)])
    assert str(info.value) == f"{base}absent.gz answered HTTP 404 File not found"
    _assert_nothing_left(root)


def test_a_server_that_cannot_be_reached_is_one_line(tmp_path):
    import socket
    with socket.socket() as probe:         # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/train-images-idx3-ubyte.gz"
    root = tmp_path / "cache"
    with pytest.raises(OSError) as info:
        download("mnist", root=str(root), progress=False,
                 remotes=[Remote(url, "train-images-idx3-ubyte.gz", "md5:" + "0" * 32)])
    message = str(info.value)
    assert message.startswith(f"cannot reach {url}: ")
    assert message.endswith(" (is this machine offline?)")
    assert "urlopen" not in message and "\n" not in message and "Errno" not in message
    _assert_nothing_left(root)


def test_archive_escaping_its_folder_is_refused(server, tmp_path):
    base, served = server
    archive = served / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    root = tmp_path / "cache"
    with pytest.raises(ValueError, match="refusing archive"):
        download("cifar10", root=str(root), progress=False,
                 remotes=[Remote(base + archive.name, archive.name, "md5:" + digest(archive))])
    _assert_nothing_left(root)
    assert not (tmp_path / "escaped.txt").exists()


def test_progress_bar_requested_without_tqdm(server, tmp_path, monkeypatch):
    base, served = server
    serve_mnist(served)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    root = tmp_path / "cache"
    with pytest.raises(ImportError, match="needs tqdm") as info:
        download("mnist", root=str(root), remotes=mnist_remotes(base, served), progress=True)
    assert info.value.name == "tqdm"
    _assert_nothing_left(root)
    # progress=None quietly goes without a bar when tqdm is absent
    download("mnist", root=str(root), remotes=mnist_remotes(base, served))
    assert os.listdir(root) == ["mnist"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        download("imagenet", root=str(tmp_path))
    with pytest.raises(ValueError, match="checksum must be"):
        download("mnist", root=str(tmp_path),
                 remotes=[Remote("http://127.0.0.1:9/x", "x", "crc:1")])
    with pytest.raises(ValueError, match="plain file name"):
        download("mnist", root=str(tmp_path),
                 remotes=[Remote("http://127.0.0.1:9/x", "../x", "md5:" + "0" * 32)])
    assert os.listdir(tmp_path) == []


def test_published_remotes_are_well_formed():
    for name, remotes in REMOTES.items():
        for remote in remotes:
            algorithm, _, hexdigest = remote.checksum.partition(":")
            assert algorithm == "md5" and len(hexdigest) == 32
            int(hexdigest, 16)
            assert remote.url.endswith("/" + remote.filename)
    assert len(REMOTES["mnist"]) == len(REMOTES["fashion-mnist"]) == 4
