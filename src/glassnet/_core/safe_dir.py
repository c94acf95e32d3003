"""A folder whose files are read, created, renamed and removed without following symbolic
links (for glassnet.experiment.run_folder, which must never touch a file outside the run it can prove).

Where the platform allows it (``os.supports_dir_fd``: Linux, macOS) the folder is opened
once with ``O_NOFOLLOW`` and every operation names its file relative to that descriptor,
so a link put in place of the folder after it was opened changes nothing; a file is
opened with ``O_NOFOLLOW`` and only a regular file is removed (``unlink`` never follows a
link). Elsewhere (Windows) each operation checks its target with ``os.lstat`` first.
"""
import os
import secrets
import stat

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_RELATIVE = (hasattr(os, "O_DIRECTORY") and _NOFOLLOW != 0
             and {os.open, os.stat, os.unlink, os.rename, os.mkdir} <= os.supports_dir_fd
             and os.listdir in os.supports_fd)

# What an entry is, as entry_kind() names it, in words for messages.
KIND_TEXT = {"file": "a file", "dir": "a folder", "link": "a symbolic link",
             "other": "not a regular file", "missing": "missing"}


class SafeDir:
    """An open folder (see the module docstring); use as a context manager.

    Parameters
    ----------
    path : str
        The folder.
    follow : bool
        Whether ``path`` itself may be a symbolic link to a folder (its files never are
        followed). False: a link raises ``IsALinkError``.
    """

    def __init__(self, path, follow=False):
        self.path = os.fspath(path)
        self._fd = None
        if not follow and stat.S_ISLNK(os.lstat(self.path).st_mode):
            raise IsALinkError(self.path)
        if _RELATIVE:
            flags = os.O_RDONLY | os.O_DIRECTORY | (0 if follow else _NOFOLLOW)
            self._fd = os.open(self.path, flags)
        elif not os.path.isdir(self.path):
            raise NotADirectoryError(f"not a folder: {self.path!r}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _where(self, name):
        """(path argument, keyword arguments) for an os call on ``name``."""
        if self._fd is not None:
            return name, {"dir_fd": self._fd}
        return os.path.join(self.path, name), {}

    def names(self):
        """The names in the folder (unsorted)."""
        return os.listdir(self._fd if self._fd is not None else self.path)

    def lstat(self, name):
        """``os.stat`` of the entry itself (a link is not followed)."""
        where, kw = self._where(name)
        return os.stat(where, follow_symlinks=False, **kw)

    def kind(self, name):
        """'file', 'dir', 'link', 'other' or 'missing' (the entry itself, not a link's target)."""
        try:
            mode = self.lstat(name).st_mode
        except FileNotFoundError:
            return "missing"
        if stat.S_ISLNK(mode):
            return "link"
        if stat.S_ISREG(mode):
            return "file"
        return "dir" if stat.S_ISDIR(mode) else "other"

    def link_target(self, name):
        """Where a symbolic link ``name`` points ('' when that cannot be read)."""
        try:
            return os.readlink(os.path.join(self.path, name))
        except OSError:
            return ""

    def read(self, name, limit):
        """At most ``limit + 1`` bytes of the regular file ``name`` (a link or anything
        else: ``OSError``)."""
        where, kw = self._where(name)
        if self._fd is None and self.kind(name) != "file":
            raise IsALinkError(os.path.join(self.path, name))
        fd = os.open(where, os.O_RDONLY | _NOFOLLOW | _BINARY, **kw)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(f"not a regular file: {name!r}")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def create(self, name, data):
        """Create the file ``name`` holding ``data`` (bytes) only if no entry of that name
        exists (``FileExistsError`` otherwise, a dangling link included): the one atomic
        claim two processes cannot both win. The content is written and flushed to a
        temporary file first, then hard-linked as ``name``, so no reader sees it
        incomplete; where the file system has no hard links, ``name`` is created with
        ``O_EXCL`` and written."""
        temp = f".tmp-{secrets.token_hex(4)}.part"
        self._write_new(temp, data)
        try:
            if self._fd is not None:
                os.link(temp, name, src_dir_fd=self._fd, dst_dir_fd=self._fd,
                        follow_symlinks=False)
            else:
                os.link(os.path.join(self.path, temp), os.path.join(self.path, name))
        except FileExistsError:
            raise
        except OSError:   # no hard links here (FAT, some network file systems)
            self._write_new(name, data)
        finally:
            self.remove_file(temp)

    def _write_new(self, name, data):
        where, kw = self._where(name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
        fd = os.open(where, flags, 0o666, **kw)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.remove_file(name)
            raise
        os.close(fd)

    def rename(self, source, target):
        """Rename ``source`` to ``target`` inside the folder (replacing ``target``)."""
        if self._fd is not None:
            os.rename(source, target, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        else:
            os.replace(os.path.join(self.path, source), os.path.join(self.path, target))

    def remove_file(self, name):
        """Remove ``name`` if it is a regular file; returns whether it did. A link, a
        folder or anything else is left."""
        if self.kind(name) != "file":
            return False
        where, kw = self._where(name)
        try:
            os.unlink(where, **kw)
        except FileNotFoundError:
            return False
        return True

    def mkdir(self, name):
        where, kw = self._where(name)
        os.mkdir(where, **kw)

    def subdir(self, name):
        """The folder ``name`` inside this one, opened as a SafeDir (never through a link)."""
        if self._fd is None:
            return SafeDir(os.path.join(self.path, name))
        sub = SafeDir.__new__(SafeDir)
        sub.path = os.path.join(self.path, name)
        sub._fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=self._fd)
        return sub


class IsALinkError(OSError):
    """A path that had to be a real folder or file is a symbolic link."""

    def __init__(self, path):
        super().__init__(f"{path!r} is a symbolic link")
        self.filename = path
