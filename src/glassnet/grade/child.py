"""What runs inside the grading sandbox: a script, started as
``python -I -B child.py WORKDIR``, that imports a student's modules and executes the calls
the grader asked for. It uses only the standard library and NumPy, and it compares nothing:
every number goes back to the grader, which judges it in its own process.

Protocol (all files in WORKDIR, written and read by the grader):

- ``request.npz``: the input arrays, and under ``__glassnet_meta__`` the JSON request
  ``{"root", "modules": {alias: import name}, "glassnet_root", "patch": {name: glassnet
  module}, "skip": [group, ...], "steps": [...]}``;
- ``progress``: the id of each step, written before the step runs (so the grader knows which
  one hung or killed the process);
- ``result.npz``: the returned arrays, and under ``__glassnet_meta__`` the JSON report
  ``{"imports", "blocked", "denied", "tampered", "steps": {id: {...}}}``.

A step is ``{"id", "group", "op", "uses"?, ...}`` (``uses``: other groups whose functions
it calls; it is skipped with them); ``op`` is ``call`` (call ``fn`` with ``args`` /
``kwargs``, keep parts of the result in memory under names, send the rest back),
``numgrad`` (centred differences of a call's output, contracted with ``dout``), ``seed``
(``np.random.seed``), ``set`` (assign an attribute or an item of a kept object) or ``get``.
Encoded values: ``{"$a": key}`` a fresh copy of an input array, ``{"$r": name}`` a kept
object, ``{"$obj": name, "value": {...}}`` a new dict kept under ``name``, ``{"$t": [...]}``
a tuple, ``{"$dtype": "float32"}`` a NumPy dtype; anything else is plain JSON.

Before any student module is imported the child installs (1) an import blocker that refuses
``glassnet`` and records who asked, (2) an audit hook that refuses writing files, starting
processes and opening sockets, and (3) a snapshot of NumPy's namespaces, compared and
restored after each import and step so that a monkeypatch is reported and undone.
"""
import importlib
import importlib.abc
import io
import json
import os
import sys
import time
import traceback
import types
import zipfile

import numpy as np

# The child's own file functions, taken before any student code runs (a student's module
# may replace builtins.open or os.write; the child still reports).
_open, _write, _replace = open, os.write, os.replace
META_KEY = "__glassnet_meta__"
STDOUT_CAP = 64 * 1024
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_DENIED_EVENTS = {
    "os.remove": "deleting files", "os.rename": "renaming files", "os.rmdir": "deleting folders",
    "os.mkdir": "creating folders", "shutil.rmtree": "deleting folders",
    "os.truncate": "truncating files", "os.chmod": "changing file modes",
    "os.symlink": "creating links", "os.link": "creating links",
    "subprocess.Popen": "starting processes", "os.system": "starting processes",
    "os.exec": "starting processes", "os.posix_spawn": "starting processes",
    "os.spawn": "starting processes", "os.fork": "starting processes",
    "os.forkpty": "starting processes", "os.kill": "sending signals",
    "os.killpg": "sending signals", "socket.connect": "opening network connections",
    "socket.bind": "opening network connections", "ctypes.dlopen": "loading C libraries",
}


class Sandbox:
    """The child's own state: what was refused, and whether the child itself is writing."""

    def __init__(self):
        self.blocked = []            # import names refused
        self.denied = []             # "what: detail" of refused operations
        self.own_write = False       # True only while the child writes result.npz
        self.allow_glassnet = False  # True only while the child loads glassnet's layers

    def audit(self, event, args):
        if self.own_write:
            return
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing:
                self.deny("writing files", path)
        elif event in _DENIED_EVENTS:
            self.deny(_DENIED_EVENTS[event], args[0] if args else "")

    def deny(self, what, detail):
        note = f"{what}: {detail}"
        if note not in self.denied:
            self.denied.append(note)
        raise PermissionError(f"the grading sandbox does not allow {what} ({detail})")


class GlassnetBlocker(importlib.abc.MetaPathFinder):
    """Refuses ``import glassnet`` (and its submodules) to the student's code."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] != "glassnet" or self.sandbox.allow_glassnet:
            return None
        if fullname not in self.sandbox.blocked:
            self.sandbox.blocked.append(fullname)
        raise ImportError(f"the grading sandbox does not allow importing {fullname!r}: "
                          f"a submission must use its own implementation")


class CappedWriter(io.TextIOBase):
    """A text stream keeping at most STDOUT_CAP characters of what the student prints."""

    def __init__(self, stream):
        self.stream, self.written = stream, 0

    def write(self, text):
        text = str(text)
        room = STDOUT_CAP - self.written
        if room > 0:
            self.stream.write(text[:room])
        self.written += len(text)
        return len(text)

    def flush(self):
        self.stream.flush()


def numpy_snapshot():
    spaces = {"numpy": np, "numpy.random": np.random, "numpy.linalg": np.linalg}
    return {(name, key): value for name, module in spaces.items()
            for key, value in list(vars(module).items()) if not key.startswith("__")}, spaces


def restore_numpy(snapshot, spaces):
    """Undo any change to NumPy's namespaces; return the names that had been changed."""
    changed = []
    for name, module in spaces.items():
        namespace = vars(module)
        for key in list(namespace):
            value = namespace[key]
            if key.startswith("__") or (name, key) in snapshot or (
                    isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{key}"):
                continue          # a NumPy submodule imported since (numpy.testing, ...)
            changed.append(f"{name}.{key}")
            del namespace[key]
    for (name, key), value in snapshot.items():
        namespace = vars(spaces[name])
        if namespace.get(key, _MISSING) is not value:
            changed.append(f"{name}.{key}")
            namespace[key] = value
    return sorted(set(changed))


_MISSING = object()
# Functions the grader may pass to a student's numerical-gradient code, by name.
KNOWN_FUNCTIONS = {"cube_sum": lambda x: float(np.sum(x ** 3)), "tanh": lambda x: np.tanh(x)}


def one_line(exc):
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "raised KeyboardInterrupt"
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    tb = [frame for frame in traceback.extract_tb(exc.__traceback__)
          if os.path.abspath(frame.filename) != os.path.abspath(__file__)]
    if tb:
        frame = tb[-1]
        text += f" ({os.path.basename(frame.filename)}, line {frame.lineno})"
    return text[:300]


class Runner:
    """Executes the steps of one request, keeping named objects between steps."""

    def __init__(self, request, arrays, sandbox, stdout):
        self.request, self.arrays, self.sandbox, self.stdout = request, arrays, sandbox, stdout
        self.modules, self.objects = {}, {}
        self.out_arrays, self.report = {}, {"imports": {}, "tampered": {}, "steps": {}}

    # ---- values in and out
    def decode(self, value):
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$a" in value:
            return np.array(self.arrays[value["$a"]], copy=True)
        if "$r" in value:
            if value["$r"] not in self.objects:
                raise LookupError("needs the result of an earlier call, which failed")
            return self.objects[value["$r"]]
        if "$obj" in value:
            obj = self.decode(value["value"])
            self.objects[value["$obj"]] = obj
            return obj
        if "$t" in value:
            return tuple(self.decode(v) for v in value["$t"])
        if "$fn" in value:
            return KNOWN_FUNCTIONS[value["$fn"]]
        if "$dtype" in value:
            return np.dtype(value["$dtype"])
        return {k: self.decode(v) for k, v in value.items()}

    def encode(self, value, depth=0):
        """A JSON description of a returned value; arrays go to the result archive."""
        if depth > 4:
            return {"t": "other", "type": "too deeply nested"}
        if isinstance(value, (tuple, list)):
            return {"t": "seq", "type": type(value).__name__,
                    "items": [self.encode(v, depth + 1) for v in value[:64]]}
        if isinstance(value, dict):
            return {"t": "dict", "items": {str(k): self.encode(v, depth + 1)
                                           for k, v in list(value.items())[:64]}}
        if isinstance(value, (bool, int, float, np.ndarray, np.generic)) and value is not None:
            arr = np.asarray(value)
            if arr.dtype.kind in "biuf" and arr.size <= 2_000_000:
                key = str(len(self.out_arrays))
                self.out_arrays[key] = np.array(arr, copy=True)
                return {"t": "array", "key": key, "type": type(value).__name__}
            return {"t": "other", "type": f"{type(value).__name__} of dtype {arr.dtype}"}
        if value is None:
            return {"t": "none"}
        return {"t": "other", "type": type(value).__name__}

    # ---- modules
    def import_modules(self, progress_fd, snapshot, spaces):
        for alias, name in self.request["modules"].items():
            _write(progress_fd, f"import:{alias}\n".encode())
            try:
                self.modules[alias] = importlib.import_module(name)
                self.report["imports"][alias] = None
            except BaseException as exc:  # noqa: B036 - a student's import may exit too
                self.report["imports"][alias] = f"raises on import: {one_line(exc)}"
            changed = restore_numpy(snapshot, spaces)
            if changed:
                self.report["tampered"][alias] = changed
        self.report["names"] = {
            alias: sorted(k for k, v in list(vars(module).items())[:10000]
                          if not k.startswith("_") and callable(v))[:2000]
            for alias, module in self.modules.items()}

    def resolve(self, fn):
        if isinstance(fn, dict) and "glassnet" in fn:
            return getattr(self.glassnet_module(fn["glassnet"]), fn["attr"])
        if isinstance(fn, dict):
            return getattr(self.objects[fn["$r"]], fn["attr"])
        alias, _, name = fn.partition(".")
        if alias not in self.modules:
            raise LookupError(f"module {alias!r} could not be imported")
        obj = self.modules[alias]
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    def glassnet_module(self, name):
        """Import one of glassnet's modules for the child's own use (the reference layers
        to patch in, the model a Solver trains), then hide glassnet again."""
        self.sandbox.allow_glassnet = True
        sys.path.insert(0, self.request["glassnet_root"])
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(self.request["glassnet_root"])
            self.sandbox.allow_glassnet = False
            for loaded in [m for m in sys.modules if m.split(".")[0] == "glassnet"]:
                del sys.modules[loaded]   # the student's later imports meet the blocker again

    def patch(self):
        """Put glassnet's functions in place of the student's ones named in ``patch``."""
        wanted = self.request.get("patch") or {}
        if not wanted:
            return
        sources = {module: self.glassnet_module(module) for module in set(wanted.values())}
        root = os.path.realpath(self.request["root"])
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None) or ""
            if not os.path.realpath(path).startswith(root + os.sep):
                continue
            for name, source in wanted.items():
                if callable(getattr(module, name, None)):
                    setattr(module, name, getattr(sources[source], name))

    # ---- steps
    def run(self, progress_fd, snapshot, spaces):
        skip = set(self.request.get("skip") or ())
        for step in self.request["steps"]:
            sid = step["id"]
            stopped = sorted(skip & ({step.get("group")} | set(step.get("uses", ()))))
            if stopped:
                self.report["steps"][sid] = {"ok": False, "error": (
                    f"not run: it calls {', '.join(stopped)}, which stopped an earlier run")}
                continue
            _write(progress_fd, (sid + "\n").encode())
            start, printed = time.perf_counter(), self.stdout.written
            try:
                entry = self.run_step(step)
            except BaseException as exc:  # noqa: B036 - sys.exit and friends are failures too
                entry = {"ok": False, "error": one_line(exc)}
            printed = self.stdout.written - printed
            if printed > STDOUT_CAP:
                entry = {"ok": False, "error": f"printed {printed} characters (more than the "
                                               f"{STDOUT_CAP} the grader keeps)"}
            entry["seconds"] = time.perf_counter() - start
            changed = restore_numpy(snapshot, spaces)
            if changed:
                entry["tampered"] = changed
            self.report["steps"][sid] = entry

    def run_step(self, step):
        op = step["op"]
        if op == "seed":
            np.random.seed(step["seed"])
            return {"ok": True}
        if op == "set":
            target, value = self.objects[step["ref"]], self.decode(step["value"])
            if "key" in step:
                getattr(target, step["attr"])[step["key"]] = value
            else:
                setattr(target, step["attr"], value)
            return {"ok": True}
        if op == "get":
            return {"ok": True, "value": self.encode(getattr(self.objects[step["ref"]],
                                                             step["attr"]))}
        if op == "get_kept":
            return {"ok": True, "value": self.encode(self.objects[step["ref"]])}
        if op == "numgrad":
            return {"ok": True, "value": self.encode(self.numerical_gradient(step))}
        return self.call(step)

    def call(self, step):
        fn = self.resolve(step["fn"])
        best, result = None, None
        for _ in range(max(1, step.get("repeat", 1))):
            args, kwargs = self.decode(step.get("args", [])), self.decode(step.get("kwargs", {}))
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            spent = time.perf_counter() - start
            best = spent if best is None else min(best, spent)
        kept = step.get("keep") or {}
        if "*" in kept:
            self.objects[kept["*"]] = result
            value = {"t": "kept"}
        elif kept:
            if not isinstance(result, (tuple, list)):
                raise TypeError(f"returned a {type(result).__name__}, expected a tuple")
            if len(result) <= max(int(i) for i in kept):
                raise TypeError(f"returned a {type(result).__name__} of {len(result)} items, "
                                f"expected {max(int(i) for i in kept) + 1}")
            for index, name in kept.items():
                self.objects[name] = result[int(index)]
            value = {"t": "seq", "type": type(result).__name__,
                     "items": [{"t": "kept"} if str(i) in kept else self.encode(v)
                               for i, v in enumerate(result[:64])]}
        else:
            value = self.encode(result)
        return self.with_refs(step, {"ok": True, "value": value, "call_seconds": best})

    def with_refs(self, step, entry):
        refs = step.get("save_refs") or []
        entry["refs"] = {name: self.encode(self.objects.get(name)) for name in refs}
        return entry

    def numerical_gradient(self, step):
        """Centred differences of sum(output * dout) with respect to one array."""
        fn = self.resolve(step["fn"])
        h, out_index = step.get("h", 1e-5), step.get("out_index")
        dout = self.decode(step["dout"]) if step.get("dout") is not None else None
        base_args = self.decode(step.get("args", []))
        wrt = step["wrt"]
        if "arg" in wrt:
            target = np.array(base_args[wrt["arg"]], dtype=np.float64, copy=True)
        else:
            target = getattr(self.objects[wrt["$r"]], wrt["attr"])[wrt["key"]]

        def value():
            if "arg" in wrt:
                args = self.decode(step.get("args", []))
                args[wrt["arg"]] = target.copy()
            else:
                args = self.decode(step.get("args", []))
            out = fn(*args, **self.decode(step.get("kwargs", {})))
            if out_index is not None:
                out = out[out_index]
            out = np.asarray(out, dtype=np.float64)
            return float(np.sum(out * dout)) if dout is not None else float(out)

        grad = np.zeros(target.shape)
        flat = target.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            plus = value()
            flat[i] = old - h
            minus = value()
            flat[i] = old
            grad.reshape(-1)[i] = (plus - minus) / (2 * h)
        return grad


def read_request(workdir):
    with np.load(os.path.join(workdir, "request.npz"), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != META_KEY}
        request = json.loads(bytes(data[META_KEY]).decode("utf-8"))
    return request, arrays


def write_result(workdir, sandbox, runner):
    report = dict(runner.report, blocked=sandbox.blocked, denied=sandbox.denied)
    payload = dict(runner.out_arrays)
    payload[META_KEY] = np.frombuffer(json.dumps(report).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for key, arr in payload.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            archive.writestr(key + ".npy", member.getvalue())
    sandbox.own_write = True
    path = os.path.join(workdir, "result.npz")
    with _open(path + ".part", "wb") as f:
        f.write(buf.getvalue())
    _replace(path + ".part", path)
    sandbox.own_write = False


def main(workdir):
    request, arrays = read_request(workdir)
    progress_fd = os.open(os.path.join(workdir, "progress"), os.O_WRONLY | os.O_CREAT, 0o600)
    sandbox = Sandbox()
    sys.meta_path.insert(0, GlassnetBlocker(sandbox))
    for name in [m for m in sys.modules if m.split(".")[0] == "glassnet"]:
        del sys.modules[name]
    real_stdout = sys.stdout
    capped = CappedWriter(real_stdout)
    sys.stdout = sys.stderr = capped
    snapshot, spaces = numpy_snapshot()
    runner = Runner(request, arrays, sandbox, capped)
    sys.path.insert(0, request["root"])
    os.chdir(request["root"])
    sys.addaudithook(sandbox.audit)
    runner.import_modules(progress_fd, snapshot, spaces)
    try:
        runner.patch()
    except BaseException as exc:  # noqa: B036
        runner.report["patch_error"] = one_line(exc)
    runner.run(progress_fd, snapshot, spaces)
    restore_numpy(snapshot, spaces)
    sys.stdout = sys.stderr = real_stdout
    write_result(workdir, sandbox, runner)
    os._exit(0)   # skip the student's atexit handlers and object finalisers


if __name__ == "__main__":
    main(sys.argv[1])
