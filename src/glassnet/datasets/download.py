"""Download data sets from their public homes, verified, into the cache, all or nothing.

Each file is streamed into a private staging folder next to the target (same file system),
hashed while it arrives and checked against its published checksum; archives are then
unpacked (refusing members that would land outside the staging folder, links and device
files). Only when every file is verified does the staging content move into
``<root>/<name>`` by renames. A wrong checksum, a short transfer, a network error or an
interrupt removes the staging folder: nothing half-written is ever left where a loader
looks.
"""
import collections
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request

from glassnet._core.validate import check_choice
from glassnet.datasets.locate import cache_dir

Remote = collections.namedtuple("Remote", "url filename checksum")
Remote.__doc__ = """A file to fetch: ``url``, the ``filename`` it is saved as, and its
``checksum`` as ``'md5:<hex>'`` or ``'sha256:<hex>'``."""

_MNIST_HOME = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # mirror of yann.lecun.com
_FASHION_HOME = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# The MD5 sums the data sets' homes publish for these exact files.
REMOTES = {
    "cifar10": (Remote("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a"),),
    "mnist": tuple(Remote(_MNIST_HOME + name, name, "md5:" + md5) for name, md5 in zip(
        _IDX_NAMES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                     "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
    "fashion-mnist": tuple(Remote(_FASHION_HOME + name, name, "md5:" + md5) for name, md5 in zip(
        _IDX_NAMES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_CHUNK = 1 << 16


def _parse_checksum(checksum):
    algorithm, _, digest = str(checksum).partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise ValueError(f"checksum must be 'md5:<hex>' or 'sha256:<hex>'; got {checksum!r}")
    return algorithm, digest.lower()


def _progress_bar(progress, total, label):
    """A tqdm bar when ``progress`` is True (tqdm required) or None (tqdm if installed)."""
    if progress is False:
        return None
    try:
        from tqdm import tqdm
    except ImportError as exc:
        if progress is None:
            return None
        raise ImportError("progress=True needs tqdm (`pip install tqdm`); pass "
                          "progress=False for no bar", name="tqdm") from exc
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, leave=False)


def _open_url(url, timeout):
    """``urlopen(url)``, its failures as one-line OSErrors (urllib's own text reads
    ``<urlopen error [Errno -2] Name or service not known>``)."""
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise OSError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise OSError(f"cannot reach {url}: {reason} (is this machine offline?)") from None
    except TimeoutError:
        raise OSError(f"no answer from {url} within {timeout:g} s") from None


def fetch(url, destination, checksum, progress=None, timeout=60):
    """Stream ``url`` into the file ``destination``, verifying length and checksum.

    Raises OSError for a server that cannot be reached or answers with an HTTP error (one
    line naming the URL and the reason) and for a transfer that ends before its announced
    length, and ValueError for a checksum mismatch (the caller discards the file).
    """
    algorithm, expected = _parse_checksum(checksum)
    digest = hashlib.new(algorithm)
    received = 0
    with _open_url(url, timeout) as response, open(destination, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length else None
        bar = _progress_bar(progress, total, os.path.basename(destination))
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise OSError(f"interrupted transfer of {url}: received {received} of {total} bytes; "
                      f"nothing was kept, try again")
    if digest.hexdigest() != expected:
        raise ValueError(f"checksum mismatch for {url}: expected {algorithm} {expected}, got "
                         f"{digest.hexdigest()}; the file was discarded")


def _safe_members(archive, archive_path):
    """The archive's members, refusing absolute or '..' paths, links and special files."""
    members = archive.getmembers()
    for member in members:
        parts = member.name.replace("\\", "/").split("/")
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise ValueError(f"refusing archive {archive_path!r}: member {member.name!r} is a "
                             f"link, a special file or would land outside its folder")
    return members


def extract(archive_path, folder):
    """Unpack a tar archive (optionally gzipped) into ``folder`` after checking members."""
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            members = _safe_members(archive, archive_path)
            if hasattr(tarfile, "data_filter"):
                archive.extractall(folder, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were checked above
                archive.extractall(folder, members=members)
    except (tarfile.TarError, EOFError) as exc:
        raise ValueError(f"cannot unpack {archive_path!r}: truncated or not a tar archive "
                         f"({type(exc).__name__}: {exc})") from exc


def _publish(staging, target):
    """Move everything in ``staging`` into ``target`` by renames (one rename when
    ``target`` does not exist yet; an existing sub-folder is swapped out whole)."""
    if not os.path.exists(target):
        os.rename(staging, target)
        return
    for entry in os.listdir(staging):
        source, destination = os.path.join(staging, entry), os.path.join(target, entry)
        if os.path.isdir(source) and os.path.isdir(destination):
            old = tempfile.mkdtemp(prefix=".old-", dir=target)
            os.rename(destination, os.path.join(old, entry))
            os.rename(source, destination)
            shutil.rmtree(old)
        else:
            os.replace(source, destination)


def download(name, root=None, remotes=None, progress=None, timeout=60):
    """Download data set ``name`` ('cifar10', 'mnist' or 'fashion-mnist') into
    ``root/<name>`` and return that folder.

    root: defaults to the per-user cache (``$XDG_CACHE_HOME/glassnet``), where
    :func:`glassnet.datasets.load_dataset` looks. remotes: a sequence of :class:`Remote`
    replacing the published URLs and checksums (tests, mirrors). progress: True for a tqdm
    bar, False for none, None for a bar when tqdm is installed. timeout: seconds per
    network operation.
    """
    check_choice(name, "name", sorted(REMOTES))
    root = cache_dir() if root is None else os.path.expanduser(os.fspath(root))
    remotes = REMOTES[name] if remotes is None else tuple(Remote(*r) for r in remotes)
    for remote in remotes:
        plain = os.path.basename(remote.filename) == remote.filename
        if not plain or remote.filename in ("", ".", ".."):
            raise ValueError(f"remote filename must be a plain file name; got {remote.filename!r}")
        _parse_checksum(remote.checksum)
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".download-{name}-", dir=root)
    os.chmod(staging, 0o755)  # it becomes the data set folder: readable like any other
    try:
        for remote in remotes:
            path = os.path.join(staging, remote.filename)
            fetch(remote.url, path, remote.checksum, progress, timeout)
            if remote.filename.endswith(ARCHIVE_SUFFIXES):
                extract(path, staging)
                os.remove(path)
        target = os.path.join(root, name)
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
