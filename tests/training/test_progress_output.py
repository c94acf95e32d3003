"""Where the progress bar draws: a widget in Jupyter (with ipywidgets), a text bar on a
terminal, nothing where output is captured (a text bar there is one line per redraw)."""
import io
import sys
import types

import pytest

from glassnet.training import callbacks
from glassnet.training.callbacks import ProgressBar, progress_bar_for, tqdm_for_output

tqdm_std = pytest.importorskip("tqdm.std")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def draws_nothing(tqdm_class):
    bar = tqdm_class(total=3)
    silent = bar.disable
    bar.close()
    return silent


def test_a_captured_stream_gets_a_bar_that_draws_nothing(capsys):
    tqdm_class = tqdm_for_output()              # pytest captures stderr: not a terminal
    assert draws_nothing(tqdm_class)
    assert list(tqdm_class(range(4), desc="items")) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_the_text_bar():
    assert tqdm_for_output(Terminal()) is tqdm_std.tqdm
    assert tqdm_for_output(io.StringIO(), draw_when_captured=True) is tqdm_std.tqdm


@pytest.fixture
def in_a_kernel(monkeypatch):
    """This process looks like a Jupyter kernel to tqdm_for_output."""
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython",
                        types.SimpleNamespace(get_ipython=lambda: shell))


def test_a_kernel_with_ipywidgets_gets_the_widget_bar(in_a_kernel, monkeypatch):
    pytest.importorskip("tqdm.notebook")
    import tqdm.notebook
    monkeypatch.setattr(callbacks.importlib.util, "find_spec",
                        lambda name: object() if name == "ipywidgets" else None)
    assert tqdm_for_output() is tqdm.notebook.tqdm


def test_a_kernel_without_ipywidgets_gets_no_bar(in_a_kernel, monkeypatch):
    monkeypatch.setattr(callbacks.importlib.util, "find_spec", lambda name: None)
    assert draws_nothing(tqdm_for_output())


def test_progress_bar_callback_is_silent_where_output_is_captured(capsys):
    from glassnet.training.solver import Solver
    from solver_models import TinySoftmax, make_data
    solver = Solver(TinySoftmax(), make_data(), batch_size=10, num_epochs=2, verbose=True,
                    print_every=5, callbacks=[ProgressBar()])
    solver.train()
    captured = capsys.readouterr()
    assert captured.err == ""                             # no bar, no stacked lines
    assert "(Iteration 1 / 10) loss:" in captured.out     # the printed lines still come


def test_solver_progress_argument():
    assert progress_bar_for(False, True, Terminal()) is None
    assert progress_bar_for(None, True, io.StringIO()) is None        # not a terminal
    assert not draws_nothing(progress_bar_for(True, False, io.StringIO())._tqdm)  # asked for
