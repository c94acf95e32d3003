"""Where data sets live on disk.

A data set named ``name`` is looked for, in this order:

1. an explicit ``path`` argument: that folder itself, then ``path/<name>`` (nothing else is
   searched when a path is given, so a wrong path is reported, never silently replaced);
2. ``$GLASSNET_DATA/<name>`` when the environment variable ``GLASSNET_DATA`` is set;
3. the per-user cache folder of the platform, ``platformdirs.user_cache_dir("glassnet")``:
   on Linux ``$XDG_CACHE_HOME/glassnet`` (``~/.cache/glassnet`` when ``XDG_CACHE_HOME`` is
   unset), on macOS ``~/Library/Caches/glassnet``, on Windows
   ``%LOCALAPPDATA%\\glassnet\\Cache``; :func:`glassnet.datasets.download` puts files there;
4. system folders, for each ``base`` in ``$XDG_DATA_DIRS`` (default
   ``/usr/local/share:/usr/share``): ``base/datasets/<name>`` (where Debian's
   ``dataset-fashion-mnist`` package installs its IDX files) and ``base/dataset-<name>``.

No user path is fixed in the code. Each loader says what "present" means for its files
(a predicate on a folder); :func:`find_folder` returns the first folder that satisfies it,
or raises :class:`DatasetNotFoundError` (a ``FileNotFoundError``) listing every place
looked and how to get the data.
"""
import os

import platformdirs

DATA_ENV = "GLASSNET_DATA"
DEFAULT_DATA_DIRS = "/usr/local/share:/usr/share"


def cache_dir():
    """The per-user cache folder of this platform (see the module docstring), read anew on
    each call so a changed ``XDG_CACHE_HOME`` is honoured."""
    return platformdirs.user_cache_dir("glassnet", appauthor=False)


def system_dirs(name):
    """System-wide folders that may hold data set ``name`` (see the module docstring)."""
    bases = os.environ.get("XDG_DATA_DIRS") or DEFAULT_DATA_DIRS
    folders = []
    for base in bases.split(os.pathsep):
        if base:
            folders += [os.path.join(base, "datasets", name), os.path.join(base, f"dataset-{name}")]
    return folders


def candidate_dirs(name, path=None):
    """Every folder searched for data set ``name``, in search order (existing or not)."""
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        return [path, os.path.join(path, name)]
    folders = []
    env_root = os.environ.get(DATA_ENV)
    if env_root:
        folders.append(os.path.join(os.path.expanduser(env_root), name))
    folders.append(os.path.join(cache_dir(), name))
    return folders + system_dirs(name)


class DatasetNotFoundError(FileNotFoundError):
    """Data set ``name`` is in none of the folders ``searched``.

    ``str(error)`` lists every folder searched and how to get the data (for Python users);
    :meth:`one_line` says it in one line that names the shell command fetching it (for the
    command line).
    """

    def __init__(self, name, searched, expected="", how_to_get="", command=None):
        self.name, self.searched, self.command = name, list(searched), command
        places = "\n".join(f"  - {folder}" for folder in self.searched)
        super().__init__(
            f"data set {name!r} not found. Looked for {expected} in:\n{places}\n"
            f"To get it: {how_to_get}\n"
            f"(pass path=..., or set {DATA_ENV} to a folder holding a {name!r} subfolder)")

    def one_line(self):
        """``data set 'NAME' not found; get it with: COMMAND`` and where to see the folders."""
        get = f"get it with: {self.command}" if self.command else "see where it is looked for"
        return (f"data set {self.name!r} not found; {get} "
                f"(glassnet data where {self.name} lists the {len(self.searched)} folders "
                f"searched)")


def find_folder(name, is_present, path=None, expected="", how_to_get="", command=None):
    """Return the first of :func:`candidate_dirs` for which ``is_present(folder)`` is true.

    ``expected`` describes the files looked for, ``how_to_get`` how to obtain them and
    ``command`` the one shell command that fetches them; all go into the
    :class:`DatasetNotFoundError` raised when no folder has the data.
    """
    searched = candidate_dirs(name, path)
    for folder in searched:
        if os.path.isdir(folder) and is_present(folder):
            return folder
    raise DatasetNotFoundError(name, searched, expected, how_to_get, command)
