"""glassnet sweep on the command line, and its report.html in a real headless browser."""
import os
import re
import subprocess
import sys

import pytest

import sweep_workers as sw
from glassnet.cli import main
from helpers import CHROMIUM, chromium_dump_dom

PG_URL = os.environ.get("GLASSNET_TEST_POSTGRES_URL")
TINY = ["--data", "digits", "--model", "fc", "--epochs", "1", "--num-train", "200",
        "--batch-size", "50"]


def glassnet(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One small sweep run from the command line, with a --config file holding [sweep]."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "sweep.toml"
    config.write_text('data = "digits"\nmodel = "fc"\nepochs = 2\nnum_train = 300\n'
                      'batch_size = 50\n[sweep]\ntrials = 3\npruner = "none"\n'
                      '[sweep.params]\nhidden = "choice:32,64-32"\n')
    out_dir = folder / "s1"
    code = main(["sweep", "run", "--config", str(config), "--param", "lr=log:1e-3:3e-2",
                 "--name", "s1", "--out", str(out_dir), "--quiet"])
    assert code == 0
    return out_dir


@pytest.mark.slow
def test_sweep_run_writes_the_sweep_folder(swept):
    for name in ("trials.csv", "best_model.npz", "report.html", "study.journal"):
        assert (swept / name).is_file(), name
    assert sorted(os.listdir(swept / "trials")) == ["trial-0000", "trial-0001", "trial-0002"]
    header = (swept / "trials.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["trial", "state", "val_acc", "train_acc", "test_acc"]
    assert "lr" in header and "hidden" in header


@pytest.mark.slow
def test_sweep_run_prints_one_line_per_trial(tmp_path, capsys):
    code, out, _ = glassnet(capsys, "sweep", "run", *TINY, "--param", "lr=grid:0.003,0.01",
                            "--name", "g", "--out", str(tmp_path / "g"))
    assert code == 0
    lines = [l for l in out.splitlines() if l.startswith("trial ")]
    assert len(lines) == 2
    assert re.fullmatch(r"trial 0: val 0\.\d{4}, best so far trial 0 0\.\d{4}", lines[0])
    assert re.fullmatch(r"trial 1: val 0\.\d{4}, best so far trial [01] 0\.\d{4}", lines[1])
    assert re.search(r"best: trial [01], val 0\.\d{4}, test 0\.\d{4} \(lr=0\.0", out)


@pytest.mark.slow
def test_status_and_best(swept, capsys):
    code, out, _ = glassnet(capsys, "sweep", "status", "s1", "--out", str(swept))
    assert code == 0
    rows = [l for l in out.splitlines() if re.match(r"\d+\s+COMPLETE", l)]
    assert len(rows) == 3
    assert "3 trials: 3 complete" in out and "best: trial" in out
    code, out, _ = glassnet(capsys, "sweep", "best", "s1", "--out", str(swept), "--retrain",
                            "--run", str(swept / "again"))
    assert code == 0
    assert re.search(r"retrained on train\+val: test 0\.\d{4}", out)
    assert (swept / "again" / "model.npz").is_file()


@pytest.mark.slow
def test_resume_raises_the_budget(swept, capsys):
    code, out, _ = glassnet(capsys, "sweep", "run", "--config", str(swept.parent / "sweep.toml"),
                            "--param", "lr=log:1e-3:3e-2", "--name", "s1", "--out", str(swept),
                            "--trials", "4", "--resume")
    assert code == 0
    assert [l for l in out.splitlines() if l.startswith("trial ")] == [
        l for l in out.splitlines() if l.startswith("trial 3:")]   # only the new trial ran


@pytest.mark.parametrize("argv, message", [
    (["sweep", "run", *TINY, "--trials", "2"], "nothing to search"),
    (["sweep", "run", *TINY, "--param", "lr=log:1", "--trials", "2"], "LOW:HIGH"),
    (["sweep", "run", *TINY, "--param", "lrr=log:1e-3:1e-1", "--trials", "2"], "not training settings"),
    (["sweep", "run", *TINY, "--param", "lr=log:1e-3:1e-1"], "give --trials (the number "
                                                              "of trials) or --timeout"),
    (["sweep", "status", "nosuch"], "no sweep 'nosuch' here"),
])
def test_usage_errors_are_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = glassnet(capsys, *argv)
    assert code == 1 and err.startswith("glassnet: error:") and message in err
    assert not os.path.exists(tmp_path / "sweeps")


def one_line_error(code, err, message):
    return code == 1 and err.startswith("glassnet: error:") and message in err \
        and err.count("\n") == 1


def test_user_errors_from_the_storage_and_the_sweep_table_are_one_line(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = glassnet(capsys, "sweep", "work", "--storage", "shared.journal",
                            "--name", "nosuch")
    assert one_line_error(code, err, "no sweep named 'nosuch'")
    config = tmp_path / "bad.toml"
    for table, message in (('[sweep.params]\nlr = 3\n', "parameter 'lr': expected"),
                           ('[sweep.params]\nhidden = [{a = 1}]\n', "a choice value must be"),
                           ('[sweep]\nparams = "lr"\n', "[sweep.params] must be a table"),
                           ('[sweep]\nname = 3\n', "[sweep] name in"),
                           ('[sweep]\nseed = "x"\n', "[sweep] seed in")):
        config.write_text('data = "digits"\n' + table)
        code, _, err = glassnet(capsys, "sweep", "run", "--config", str(config),
                                "--param", "lr=log:1e-3:1e-1", "--trials", "1")
        assert one_line_error(code, err, message), (table, err)
    assert sorted(os.listdir(tmp_path)) == ["bad.toml", "shared.journal"]


@pytest.mark.parametrize("command, where, bug", [
    ("run", "glassnet.tune.api.create", TypeError("create() got an unexpected keyword")),
    ("status", "glassnet.tune.result.SweepResult.table", KeyError("run_dir")),
])
def test_a_bug_is_not_turned_into_a_user_error(command, where, bug, swept, capsys, tmp_path,
                                               monkeypatch):
    """Only glassnet's input checks become one-line errors: a KeyError or TypeError from
    inside glassnet is a bug, and keeps its traceback."""
    def broken(*args, **kwargs):
        raise bug
    monkeypatch.setattr(where, broken)
    argv = {"run": ["sweep", "run", *TINY, "--param", "lr=log:1e-3:1e-1", "--trials", "1",
                    "--out", str(tmp_path / "new"), "--quiet"],
            "status": ["sweep", "status", "s1", "--out", str(swept)]}[command]
    with pytest.raises(type(bug)) as raised:
        main(argv)
    assert raised.value is bug
    assert "glassnet: error" not in capsys.readouterr().err


@pytest.mark.slow
def test_create_twice_then_work_on_a_journal_file(tmp_path, capsys):
    storage = str(tmp_path / "shared.journal")
    create = ["sweep", "create", "--storage", storage, "--name", "j", *TINY,
              "--param", "lr=log:1e-3:3e-2", "--trials", "2", "--pruner", "none"]
    code, out, _ = glassnet(capsys, *create)
    assert code == 0 and "created" in out
    code, out, _ = glassnet(capsys, *create)
    assert code == 0 and "already exists (same definition)" in out
    code, _, err = glassnet(capsys, *create[:-6], "--param", "lr=log:1e-2:3e-2", "--trials", "2",
                            "--pruner", "none")
    assert code == 1 and "different definition" in err
    code, out, _ = glassnet(capsys, "sweep", "work", "--storage", storage, "--name", "j",
                            "--out", str(tmp_path / "w"))
    assert code == 0 and out.count("trial ") >= 2
    assert sorted(os.listdir(tmp_path / "w" / "trials")) == ["trial-0000", "trial-0001"]


@pytest.mark.requires("postgres")
@pytest.mark.skipif(not PG_URL, reason="GLASSNET_TEST_POSTGRES_URL is not set: no PostgreSQL "
                    "server to test against (.ci/run starts one)")
def test_create_once_and_work_in_two_terminals_on_postgres(tmp_path):
    url, drop = sw.fresh_database(PG_URL)
    try:
        cli = [sys.executable, "-m", "glassnet", "sweep"]
        subprocess.run(cli + ["create", "--storage", url, "--name", "pg", *TINY, "--param",
                              "lr=log:1e-3:3e-2", "--trials", "4", "--pruner", "none"],
                       check=True, capture_output=True, text=True, timeout=120)
        workers = [subprocess.Popen(cli + ["work", "--storage", url, "--name", "pg", "--out",
                                           str(tmp_path / f"m{i}")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for i in range(2)]
        outs = [w.communicate(timeout=300)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0]
        status = subprocess.run(cli + ["status", "pg", "--storage", url], check=True,
                                capture_output=True, text=True, timeout=120).stdout
        assert "4 trials: 4 complete" in status
        hosts_dirs = [len(os.listdir(tmp_path / f"m{i}" / "trials"))
                      for i in range(2) if (tmp_path / f"m{i}" / "trials").is_dir()]
        assert sum(hosts_dirs) == 4
        assert all("best: trial" in out for out in outs)
    finally:
        drop()


def open_in_browser(html_path, tmp_path):
    """Open a copy of the page in headless Chromium with a check appended; returns
    (number of images, number loaded, console lines, dumped DOM)."""
    check = ('<script>window.addEventListener("load", function () { var im = document.images,'
             ' ok = 0; for (var i = 0; i < im.length; i++) if (im[i].complete && '
             'im[i].naturalWidth > 0) ok++; var p = document.createElement("pre"); '
             'p.id = "glassnet-check"; p.textContent = "images " + im.length + " loaded " + ok;'
             ' document.body.appendChild(p); });</script>')
    tmp_path.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "page.html"
    page.write_text(open(html_path, encoding="utf-8").read().replace("</body>", check + "</body>"))
    proc = chromium_dump_dom(page, tmp_path / "profile")
    found = re.search(r"images (\d+) loaded (\d+)", proc.stdout)
    assert found, proc.stderr[-2000:]
    console = [l for l in proc.stderr.splitlines() if ":CONSOLE" in l]
    return int(found.group(1)), int(found.group(2)), console, proc.stdout


@pytest.mark.requires("chromium")
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs "
                    "Debian's chromium)")
@pytest.mark.slow
def test_both_reports_load_in_a_headless_browser(swept, tmp_path):
    images, loaded, console, dom = open_in_browser(swept / "report.html", tmp_path / "sweep")
    assert images >= 4 and loaded == images and console == []
    # 3 or 4 complete trials (test_resume_raises_the_budget may have added one)
    assert re.search(r"Parameter importances are not drawn: [34] complete trials, fewer than "
                     r"the 5", dom)
    assert dom.count('<table class="summary">') == 1 and dom.count("<table>") == 1
    assert dom.count('<tr class="best">') == 1
    assert len(re.findall(r'<tr(?: class="best")?><td><a href="trials/trial-000\d/report.html">'
                          r'\d+</a></td><td>COMPLETE', dom)) >= 3
    run_report = swept / "trials" / "trial-0000" / "report.html"
    images, loaded, console, dom = open_in_browser(run_report, tmp_path / "run")
    assert images >= 3 and loaded == images and console == []
    assert "<table>" in dom


@pytest.fixture(scope="module")
def pruned_sweep(tmp_path_factory):
    """A real small sweep in which the median pruner stops trials: 12 trials of 4 epochs
    over learning rates up to 1 (where training goes nowhere)."""
    folder = tmp_path_factory.mktemp("pruned") / "p"
    code = main(["sweep", "run", "--data", "digits", "--model", "fc", "--epochs", "4",
                 "--num-train", "400", "--batch-size", "50", "--param", "lr=log:1e-4:1",
                 "--param", "weight_decay=log:1e-6:1e-1", "--param", "hidden=choice:32,64-32",
                 "--trials", "12", "--pruner", "median", "--name", "p", "--out", str(folder),
                 "--quiet"])
    assert code == 0
    return folder


LAYOUT_CHECK = """<script>window.addEventListener("load", function () {
  var im = document.images, ok = 0, rows = document.querySelectorAll("div.table-box tbody tr");
  for (var i = 0; i < im.length; i++) if (im[i].complete && im[i].naturalWidth > 0) ok++;
  var pruned = 0, links = [];
  rows.forEach(function (r) {
    if (r.cells[1].textContent === "PRUNED") pruned++;
    var a = r.cells[0].querySelector("a"); links.push(a ? a.getAttribute("href") : null); });
  var summary = document.getElementById("summary").getBoundingClientRect();
  var p = document.createElement("pre"); p.id = "glassnet-layout";
  p.textContent = JSON.stringify({images: im.length, loaded: ok, rows: rows.length,
    pruned: pruned, links: links, scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    summaryTop: summary.top, summaryBottom: summary.bottom,
    headline: document.querySelector("p.headline").textContent});
  document.body.appendChild(p); });</script>"""


@pytest.mark.requires("chromium")
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs "
                    "Debian's chromium)")
@pytest.mark.slow
def test_the_sweep_page_at_1280_px_shows_pruned_trials_and_fits(pruned_sweep, tmp_path):
    import csv
    import json
    with open(pruned_sweep / "trials.csv", newline="") as f:
        states = [row["state"] for row in csv.DictReader(f)]
    assert states.count("PRUNED") >= 2 and states.count("COMPLETE") >= 2, states
    page = pruned_sweep / "checked.html"     # beside the report: relative links resolve
    page.write_text((pruned_sweep / "report.html").read_text(encoding="utf-8")
                    .replace("</body>", LAYOUT_CHECK + "</body>"), encoding="utf-8")
    proc = chromium_dump_dom(page, tmp_path / "profile", window_size=(1280, 900))
    found = re.search(r'<pre id="glassnet-layout">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["innerWidth"] == 1280
    assert seen["images"] >= 6 and seen["loaded"] == seen["images"]
    assert seen["scrollWidth"] <= 1280                     # no horizontal scroll
    assert seen["summaryTop"] >= 0 and seen["summaryBottom"] <= seen["innerHeight"]
    assert seen["headline"].startswith("Best validation accuracy 0.")
    assert f"{states.count('PRUNED')} pruned" in seen["headline"]
    assert seen["rows"] == len(states) and seen["pruned"] == states.count("PRUNED")
    for number, href in enumerate(seen["links"]):          # each trial links to its own run
        assert href is not None and href.startswith(f"trials/trial-{number:04d}/")
        assert (pruned_sweep / href).exists(), href
        if states[number] == "COMPLETE":
            assert href.endswith("/report.html")
    complete = states.count("COMPLETE")
    caption = (f"Parameter importances (from {complete} complete trials)" if complete >= 5
               else f"Parameter importances are not drawn: {complete} complete trials")
    assert caption in proc.stdout
