"""The tutorial notebooks (notebooks/*.ipynb): stored clean, and each runs top to bottom.

Each notebook is executed by nbclient in a fresh IPython kernel with ``GLASSNET_CI=1`` (the
notebooks' one switch for small sizes) and ``MPLBACKEND=Agg``; a cell that raises fails
the test with the cell's traceback. The kernel is described by a kernel spec written into
a temporary ``JUPYTER_PATH`` that starts this very interpreter, so no
``python -m ipykernel install`` is needed and the notebooks import the glassnet under test.
The kernel's working folder is a temporary folder: a notebook that wrote a file next to
itself would not write it into the repository.

Each notebook runs on both data paths a reader may have: 'system', where Fashion-MNIST is
installed (Debian's dataset-fashion-mnist; the run skips where it is not, and fails instead
in CI, whose GLASSNET_CI_REQUIRE names fashion-mnist), and 'fallback', where no data set can
be found and the notebooks fall back to the digits set shipped with glassnet. A cell added
at the end checks which data set the notebook really used.

Stored notebooks carry no outputs, no execution counts and no widget state, so their
diffs stay readable: test_notebook_is_stored_without_outputs checks that.
"""
import json
import os
import re
import sys
import time

import pytest
from paths import ROOT

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "glassnet-notebook-test"
CELL_TIMEOUT_S = 300     # one cell; a CI-mode notebook takes well under a minute in all
# The CI-mode sizes are small matrices: BLAS threads gain nothing there, and on a busy machine
# threads that wait for each other made the same notebooks 2-4 times slower (measured).
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def stored_output_problems(notebook):
    """Reasons a stored notebook (a dict as nbformat reads it) is not clean: outputs,
    execution counts, or saved widget state."""
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has {len(cell['outputs'])} stored output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has execution_count {cell['execution_count']}")
    if "widgets" in notebook.get("metadata", {}):
        problems.append("the notebook metadata holds saved widget state")
    return problems


def test_there_are_six_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    assert stored_output_problems(notebook) == [], (
        f"{path.name} was saved with outputs; clear them (Kernel > Restart & Clear Output, "
        f"or `jupyter nbconvert --clear-output --inplace {path.name}`) before committing")
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def test_the_output_check_sees_a_stored_output():
    pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook, new_output
    executed = new_notebook(cells=[new_code_cell("1 + 1", execution_count=3, outputs=[
        new_output("execute_result", data={"text/plain": "2"}, execution_count=3)])])
    assert stored_output_problems(executed) == ["cell 0 has 1 stored output(s)",
                                                "cell 0 has execution_count 3"]
    executed.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    assert stored_output_problems(executed)[-1] == "the notebook metadata holds saved widget state"
    clean = new_notebook(cells=[new_code_cell("1 + 1")])
    assert stored_output_problems(clean) == []


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A JUPYTER_PATH holding one kernel spec: this interpreter running ipykernel with the
    notebooks' CI switch on, a non-interactive matplotlib backend and one BLAS thread."""
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "glassnet notebook test", "language": "python",
            "env": {"GLASSNET_CI": "1", "MPLBACKEND": "Agg", **ONE_BLAS_THREAD}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return str(root)


def execute(notebook, kernel_path, cwd, monkeypatch):
    """Run every cell of ``notebook`` (in place) in the test kernel, working folder ``cwd``;
    a cell that raises raises nbclient's CellExecutionError."""
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JUPYTER_PATH", kernel_path + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    client = nbclient.NotebookClient(notebook, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()


def test_a_cell_that_raises_is_reported(kernel_path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nbformat.v4 import new_code_cell, new_notebook
    notebook = new_notebook(cells=[
        new_code_cell("import os\nassert os.environ['GLASSNET_CI'] == '1'"),
        new_code_cell("raise ValueError('broken cell')"),
        new_code_cell("print('never runs')")])
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="broken cell"):
        execute(notebook, kernel_path, tmp_path, monkeypatch)
    assert notebook.cells[0].execution_count is not None
    assert notebook.cells[2].execution_count is None
    assert nbformat.validate(notebook) is None


# A tqdm text bar as stored in a notebook's output: "  40%|####      | 8/20 [00:01<...".
TEXT_BAR = re.compile(r"\d+%\|.*\| *\d+/\d+")


def text_bar_lines(cell):
    """The lines of a cell's stream outputs that are tqdm text-bar redraws."""
    lines = []
    for output in cell.outputs:
        if output.output_type == "stream":
            lines += [line for line in re.split(r"[\r\n]", output.text) if TEXT_BAR.search(line)]
    return lines


def test_text_bars_stack_up_in_a_kernel_and_tqdm_for_output_draws_none(kernel_path, tmp_path,
                                                                      monkeypatch):
    """A text bar redrawn into the kernel's captured stderr is stored once per redraw;
    glassnet's tqdm_for_output (and so ProgressBar()) draws no text bar there: the kernel
    has no terminal."""
    pytest.importorskip("nbformat")
    pytest.importorskip("tqdm")
    from nbformat.v4 import new_code_cell, new_notebook
    loop = "import time\nfor _ in bar(range(20), mininterval=0):\n    time.sleep(0.002)\n"
    notebook = new_notebook(cells=[
        new_code_cell("from tqdm.std import tqdm as bar\n" + loop),
        new_code_cell("from glassnet.training.callbacks import tqdm_for_output\n"
                      "bar = tqdm_for_output()\n" + loop + "print('done')")])
    execute(notebook, kernel_path, tmp_path, monkeypatch)
    assert len(text_bar_lines(notebook.cells[0])) > 5      # the stacked lines of the issue
    assert text_bar_lines(notebook.cells[1]) == []
    # (where ipywidgets is installed the bar is one widget: a display, not stream text)
    assert [o.text for o in notebook.cells[1].outputs if o.output_type == "stream"] == ["done\n"]


def check_01_speed_words(cells):
    """Notebook 1 words each loss's measured speed-up as its ratio says."""
    text = "".join(o.get("text", "") for c in cells for o in c.outputs)
    assert "very different" not in text
    for name in ("SVM", "softmax"):
        ratio = float(re.search(rf"^{name} +[\d.]+ +[\d.]+ +([\d.]+)x", text, re.M).group(1))
        words = re.search(rf"^{name}: the vectorised loss is (.*)$", text, re.M).group(1)
        expected = ("times faster" if ratio >= 1.5 else "about as fast" if ratio > 1 / 1.5
                    else "slower")
        assert expected in words, (name, ratio, words)


def check_06_interruption(cells):
    """Notebook 6 says the run stopped in epoch 1 (counted from 1, as its text does), marks
    the interruption on the resumed run's plot and says which epoch's model was tested."""
    text = "".join(o.get("text", "") for c in cells for o in c.outputs)
    assert "stopped: interrupted during epoch 1 (0 complete)" in text
    assert "interrupted at epoch 0" not in text
    assert re.search(r"the model kept and tested is the one of epoch \d+, the best on "
                     r"validation", text)
    plot_cell = next(c for c in cells if "extended_at" in c.source)
    assert 'plt.axvline(interrupted_at' in plot_cell.source and "label=" in plot_cell.source
    assert any("image/png" in o.get("data", {}) for o in plot_cell.outputs)


OUTPUT_CHECKS = {"01_linear_classifiers": check_01_speed_words,
                 "06_convnet_real_data": check_06_interruption}


def fashion_mnist_folder():
    """The folder where load_dataset finds Fashion-MNIST in this environment, or None."""
    from glassnet.datasets import idx
    from glassnet.datasets.locate import find_folder
    try:
        return find_folder("fashion-mnist", idx.has_idx_files)
    except FileNotFoundError:
        return None


def use_data_path(data_path, tmp_path_factory, monkeypatch):
    """Point the kernel's data lookup at one of the two paths every notebook must pass.

    'system': the environment as it is, where Fashion-MNIST must be found (Debian's
    dataset-fashion-mnist, $GLASSNET_DATA or the cache), else the test skips: on such a
    machine the 'fallback' run is the notebook's path. 'fallback': what a newcomer has, no
    data set anywhere (GLASSNET_DATA unset, the cache and the system folders empty), so
    the notebooks take the digits set that ships with glassnet."""
    if data_path == "system":
        if fashion_mnist_folder() is None:
            pytest.skip("Fashion-MNIST is not installed here (apt-get install "
                        "dataset-fashion-mnist): the 'fallback' run covers this machine")
        return "fashion-mnist"
    empty = tmp_path_factory.mktemp("no-data")
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty / "cache"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(empty / "system"))
    assert fashion_mnist_folder() is None
    return "digits"


@pytest.mark.parametrize("data_path", [
    pytest.param("system", marks=pytest.mark.requires("fashion-mnist")), "fallback"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, data_path, kernel_path, tmp_path, tmp_path_factory,
                                     monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    expected_data = use_data_path(data_path, tmp_path_factory, monkeypatch)
    notebook = nbformat.read(str(path), as_version=4)
    # One more cell reports the data set the notebook chose (each names it DATA).
    notebook.cells.append(nbformat.v4.new_code_cell('print(f"notebook data set: {DATA}")'))
    start = time.perf_counter()
    try:
        execute(notebook, kernel_path, tmp_path, monkeypatch)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} raised in a cell ({data_path} data path):\n{exc}",
                    pytrace=False)
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.1f} s in CI mode on the {data_path} data path")
    report = notebook.cells.pop()
    assert [o.get("text") for o in report.outputs] == [f"notebook data set: {expected_data}\n"]
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "a cell did not run"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    # The notebooks draw: at least one picture came out of each.
    pictures = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert pictures, f"{path.name} showed no picture"
    # Nothing was written next to the kernel: every file goes to a temporary folder.
    assert list(tmp_path.iterdir()) == []
    # Progress is one bar updated in place or none: no stacked text-bar lines.
    assert [text_bar_lines(c) for c in code_cells if text_bar_lines(c)] == []
    if path.stem in OUTPUT_CHECKS:
        OUTPUT_CHECKS[path.stem](code_cells)
