"""Observing and steering a Solver's training: callbacks.

A callback is any object with some of these methods, each called with the solver::

    on_train_begin(solver)   when train() starts
    on_epoch_end(solver)     after an epoch's accuracy check and checkpoint
    on_iteration(solver)     after every iteration (after on_epoch_end at an epoch end)
    on_train_end(solver)     when train() returns or raises

Missing methods are skipped. A callback may call ``solver.stop(reason)`` to end training
after the current iteration. A callback with a ``write_line(line)`` method receives the
solver's printed lines instead of ``print`` (the progress bar writes them above itself).

An iteration, its epoch end and these calls form one unit: if one of them raises (or
Ctrl-C lands in it), the solver undoes the whole iteration, so a callback may be called
again for an iteration it has seen (when training is resumed).

:class:`ProgressBar` is the tqdm bar; :class:`FunctionCallbacks` adapts the classic
``on_iteration=`` / ``on_epoch_end=`` functions.

Where a bar can be drawn: a text bar redraws itself in place with carriage returns, which
only a terminal honours. Written to a captured stream (a Jupyter kernel's stderr, a log
file, a notebook executed and rendered later) each redraw becomes one more line, dozens
per training cell. :func:`tqdm_for_output` therefore picks the notebook widget bar in a
Jupyter kernel that has ipywidgets, the text bar when stderr is a terminal, and otherwise
a bar that draws nothing.
"""
import functools
import importlib.util
import sys

__all__ = ["CALLBACK_METHODS", "Callback", "FunctionCallbacks", "ProgressBar",
           "check_callbacks", "tqdm_for_output"]

CALLBACK_METHODS = ("on_train_begin", "on_epoch_end", "on_iteration", "on_train_end")


class Callback:
    """Base class with every callback method doing nothing (subclassing is optional)."""

    def on_train_begin(self, solver):
        pass

    def on_epoch_end(self, solver):
        pass

    def on_iteration(self, solver):
        pass

    def on_train_end(self, solver):
        pass


def check_callbacks(callbacks):
    """Return ``callbacks`` as a list; each must have at least one callback method."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes, dict)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be a list of callback objects; got {callbacks!r}")
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not any(callable(getattr(callback, m, None)) for m in CALLBACK_METHODS):
            raise TypeError(f"callbacks[{i}] must have at least one of the methods "
                            f"{', '.join(CALLBACK_METHODS)}; got {callback!r}")
    return callbacks


def call(callbacks, method, solver):
    """Call ``method(solver)`` on every callback that has it, in order."""
    for callback in callbacks:
        function = getattr(callback, method, None)
        if function is not None:
            function(solver)


class FunctionCallbacks(Callback):
    """The classic keyword callbacks: ``on_iteration(solver)``, ``on_epoch_end(solver)``."""

    def __init__(self, on_iteration=None, on_epoch_end=None):
        self._on_iteration = on_iteration
        self._on_epoch_end = on_epoch_end

    def on_iteration(self, solver):
        if self._on_iteration is not None:
            self._on_iteration(solver)

    def on_epoch_end(self, solver):
        if self._on_epoch_end is not None:
            self._on_epoch_end(solver)


def _in_jupyter_kernel():
    """True when running inside a Jupyter (IPython) kernel, whose output is captured."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def tqdm_for_output(stream=None, draw_when_captured=False):
    """The tqdm class to draw progress with where output goes now (tqdm required).

    - in a Jupyter kernel with ipywidgets installed: ``tqdm.notebook.tqdm``, one widget
      that updates in place;
    - else, when ``stream`` (default ``sys.stderr``, where tqdm writes) is a terminal, or
      ``draw_when_captured`` is true: the text bar ``tqdm.std.tqdm``;
    - else: ``tqdm.std.tqdm`` with ``disable=True``, which draws nothing and passes an
      iterable through unchanged, so ``for x in tqdm_for_output()(items)`` works anywhere.
    """
    from tqdm import std
    if _in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm
        return notebook_tqdm
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if draw_when_captured or (callable(isatty) and isatty()):
        return std.tqdm
    return functools.partial(std.tqdm, disable=True)


class ProgressBar(Callback):
    """A tqdm bar over the run's iterations, showing epoch, loss and the latest accuracies
    (refreshed every 10 iterations); the solver's printed lines go above it.

    ``tqdm_class``: the tqdm to draw with; default :func:`tqdm_for_output` (a widget in
    Jupyter, a text bar on a terminal, nothing where output is captured).
    """

    def __init__(self, tqdm_class=None):
        if tqdm_class is None:
            tqdm_class = tqdm_for_output()
        self._tqdm = tqdm_class
        self.bar = None

    def on_train_begin(self, solver):
        self.bar = self._tqdm(total=solver.num_iterations, initial=solver.iteration, unit="it")

    def write_line(self, line):
        if self.bar is None:
            print(line)
        else:
            self.bar.write(line)

    def on_iteration(self, solver):
        if self.bar is None:
            return
        self.bar.update(solver.iteration - self.bar.n)
        if solver.iteration % 10 == 0 or solver.iteration == solver.num_iterations:
            epoch = min(solver.epoch + 1, solver.num_epochs)   # the one running, or the last
            postfix = {"epoch": f"{epoch}/{solver.num_epochs}",
                       "loss": f"{solver.loss_history[-1]:.4f}"}
            if solver.val_acc_history:
                postfix["train"] = f"{solver.train_acc_history[-1]:.3f}"
                postfix["val"] = f"{solver.val_acc_history[-1]:.3f}"
            self.bar.set_postfix(postfix, refresh=False)

    def on_train_end(self, solver):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_bar_for(progress, verbose, stdout):
    """The ProgressBar the Solver's ``progress`` argument asks for, or None.

    ``progress=None``: a bar when ``verbose`` and ``stdout`` is a terminal and tqdm is
    installed (drawn as :func:`tqdm_for_output` says); True: a bar even where output is
    captured, a widget in Jupyter when ipywidgets is installed, else a text bar
    (ImportError without tqdm); False: none.
    """
    wanted = progress
    if wanted is None:
        isatty = getattr(stdout, "isatty", None)
        wanted = verbose and callable(isatty) and isatty()
    if not wanted:
        return None
    try:
        return ProgressBar(tqdm_for_output(draw_when_captured=bool(progress)))
    except ImportError:
        if progress:
            raise ImportError("progress=True needs the tqdm package (pip install tqdm)") from None
        return None
