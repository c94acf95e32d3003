"""The documentation site (docs/): it builds with every warning an error, its pages and
internal links are all there, every public name of the classic paths and of glassnet's
public modules is documented, and its pages render in a real headless browser.

The site is built once per test run, into a temporary folder, by the command the README
gives (``python -m sphinx -W -b html docs ...``). Without Sphinx the tests skip, saying
why, unless ``GLASSNET_CI_REQUIRE`` names ``docs`` (see tests/components.py); with Sphinx
installed a broken build fails, never skips.
"""
import html.parser
import importlib
import importlib.util
import subprocess
import sys
from urllib.parse import unquote, urlsplit

import pytest

from components import skip_unless
from helpers import CHROMIUM, chromium_dump_dom
from paths import ROOT

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow


# The classic import paths of the course exercises, and glassnet's own public modules and
# packages (the autosummary lists of docs/api/*.rst).
DOCUMENTED = [
    # the classic paths, as the exercise notebooks import them
    "glassnet.layers", "glassnet.fast_layers", "glassnet.layer_utils",
    "glassnet.gradient_check", "glassnet.optim", "glassnet.solver", "glassnet.data_utils",
    "glassnet.vis_utils", "glassnet.classifiers", "glassnet.classifiers.softmax",
    "glassnet.classifiers.linear_svm", "glassnet.classifiers.linear_classifier",
    "glassnet.classifiers.neural_net", "glassnet.classifiers.fc_net",
    "glassnet.classifiers.cnn",
    # the fast layers, the classic faces' packages and the rest of the library
    "glassnet", "glassnet.fast", "glassnet.training", "glassnet.bench", "glassnet.fast.conv",
    "glassnet.fast.winograd", "glassnet.fast.pool", "glassnet.fast.norm", "glassnet.fast.relu",
    "glassnet.fast.affine", "glassnet.fast.process",
    "glassnet.training.solver", "glassnet.training.schedules", "glassnet.training.callbacks",
    "glassnet.training.history", "glassnet.training.checkpoint",
    "glassnet.datasets", "glassnet.experiment", "glassnet.experiment.train",
    "glassnet.experiment.config", "glassnet.experiment.run_folder",
    "glassnet.experiment.run_layout", "glassnet.experiment.evaluation",
    "glassnet.experiment.plots", "glassnet.experiment.model_size",
    "glassnet.tune", "glassnet.tune.plots", "glassnet.tune.report",
    "glassnet.bench.layers", "glassnet.bench.training", "glassnet.bench.timing",
    "glassnet.bench.winograd", "glassnet.bench.profile", "glassnet.bench.fashion",
    "glassnet.export", "glassnet.export.plan", "glassnet.export.onnx",
    "glassnet.export.torch", "glassnet.export.preprocess", "glassnet.export.safetensors",
    "glassnet.export.run", "glassnet.export.output",
    "glassnet.grade", "glassnet.grade.report", "glassnet.grade.classrun",
    "glassnet.grade.gradescope",
]
PAGES = [
    "index.html", "getting-started.html", "user-guide/index.html",
    "user-guide/training.html", "user-guide/sweeps.html", "user-guide/datasets.html",
    "user-guide/randomness.html", "user-guide/grading.html", "user-guide/export.html",
    "api/index.html", "api/layers.html", "api/models.html",
    "api/training.html", "api/data.html", "api/runs.html", "api/tune.html", "api/bench.html",
    "api/export.html", "api/grade.html",
    "notebooks/index.html",
    "performance.html", "contributing.html",
] + [f"api/generated/{name}.html" for name in DOCUMENTED]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once into a temporary folder; returns the HTML folder."""
    skip_unless("docs", importlib.util.find_spec("sphinx") is not None,
                'Sphinx is not installed (pip install -e ".[docs]")')
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-b", "html", "-q", "-d", str(out / "doctrees"),
         "docs", str(out / "html")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"the docs build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return out / "html"


class _Page(html.parser.HTMLParser):
    """The ids, link targets (href and src) and h1 text of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.targets, self.h1, self._in_h1 = set(), [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.targets.append(attrs[key])
        self._in_h1 = self._in_h1 or tag == "h1"

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1:
            self.h1.append(data)


def parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_the_key_pages_exist(site):
    absent = [page for page in PAGES if not (site / page).is_file()]
    assert absent == []
    notebooks = sorted(p.name for p in (site / "notebooks" / "generated").glob("*.html"))
    assert notebooks == sorted(p.with_suffix(".html").name
                               for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 6
    assert "".join(parse(site / "api/generated/glassnet.layers.html").h1).strip().startswith(
        "glassnet.layers")


def test_every_internal_link_resolves(site):
    """Every relative href/src of every page names a file that exists, and every #fragment
    an id on the page it points to."""
    site = site.resolve()
    # _static holds the theme's assets (one of them a template named .html), not pages.
    pages = {path: parse(path) for path in site.rglob("*.html")
             if path.relative_to(site).parts[0] != "_static"}
    broken = []
    for path, page in pages.items():
        for target in page.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:")):
                continue
            file = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if file.is_dir():
                file = file / "index.html"
            if not file.exists():
                broken.append(f"{path.relative_to(site)}: {target} (no such file)")
            elif parts.fragment and file.suffix == ".html":
                ids = pages[file].ids if file in pages else parse(file).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {target} (no such anchor)")
    assert broken == []
    assert len(pages) >= len(PAGES) + 6


@pytest.mark.parametrize("module", DOCUMENTED)
def test_every_public_name_is_documented(site, module):
    """Each name a module exports is documented on its page, or linked from it to the page
    of the module it comes from."""
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None) or [
        n for n, v in vars(mod).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module]
    page = parse(site / "api" / "generated" / f"{module}.html")
    fragments = {urlsplit(t).fragment for t in page.targets}
    undocumented = [n for n in names if f"{module}.{n}" not in page.ids
                    and not any(f.endswith("." + n) for f in fragments)]
    assert undocumented == []


def test_the_site_renders_in_a_headless_browser(site, tmp_path):
    skip_unless("chromium", CHROMIUM is not None,
                "chromium is not installed (.ci/run installs Debian's chromium)")
    index = chromium_dump_dom(site / "index.html", tmp_path / "index")
    layers = chromium_dump_dom(site / "api/generated/glassnet.layers.html", tmp_path / "layers")
    for proc in (index, layers):
        assert proc.returncode == 0, proc.stderr[-2000:]
        # The theme's script ran: it sets the colour theme on the root element.
        assert 'data-theme="' in proc.stdout, proc.stderr[-2000:]
        errors = [line for line in proc.stderr.splitlines()
                  if ":CONSOLE" in line and "rror" in line]
        assert errors == []
    dom = index.stdout
    assert "<h1>glassnet" in dom
    for heading in ("Getting started", "User guide", "API reference", "Notebooks",
                    "Performance", "Working on glassnet"):
        assert heading in dom, heading
    dom = layers.stdout
    assert "<h1>glassnet.layers" in dom
    for name in ("affine_forward", "batchnorm_backward_alt", "conv_forward_naive",
                 "max_pool_backward_naive", "spatial_groupnorm_forward"):
        assert f'id="glassnet.layers.{name}"' in dom, name
    assert "Parameters" in dom and "Returns" in dom
