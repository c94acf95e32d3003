"""report.html: formatting for people, the command that reproduces a run, the page's
parts and their order, and the page of a real run in headless Chromium at 1280 px."""
import argparse
import base64
import html
import os
import re
import shlex

import numpy as np
import pytest

from glassnet.cli import train as cli_train
from glassnet.experiment import plots, report
from glassnet.experiment.config import TrainConfig, config_from_args
from glassnet.experiment.evaluation import classification_report, confusion_matrix
from glassnet.experiment.run_folder import RunFolder
from glassnet.experiment.train import train_run
from helpers import CHROMIUM, chromium_layout

pytest.importorskip("matplotlib")


def test_numbers_are_formatted_for_people():
    assert report.format_percent(0.98361) == "98.36 %"
    assert report.format_percent(1) == "100.00 %" and report.format_percent(None) == "—"
    assert [report.format_duration(s) for s in (0.4213, 9.44, 59.96, 72.4, 3599.6, 7530)] == [
        "0.42 s", "9.4 s", "1 min 0 s", "1 min 12 s", "1 h 00 min", "2 h 05 min"]
    assert report.format_duration(None) == "—"
    assert [report.format_value(v) for v in (None, True, False, 53450, 3e-3, [256, 128], [])] \
        == ["—", "yes", "no", "53,450", "0.003", "256, 128", "none"]
    assert report.format_value({"hidden_dims": [32]}) == "hidden_dims: [32]"


def parse_train_command(command):
    """The TrainConfig that ``glassnet train``'s own option parser makes of a command."""
    parser = argparse.ArgumentParser()
    cli_train.add_train_options(parser)
    words = shlex.split(command)
    assert words[:2] == ["glassnet", "train"]
    return config_from_args(parser.parse_args(words[2:]))


@pytest.mark.parametrize("config, command", [
    (TrainConfig(), "glassnet train --data digits --model cnn"),
    (TrainConfig(data="fashion-mnist", model="fc", hidden=[512, 64], lr=0.001, epochs=3,
                 dropout=0.25, num_train=5000, train_on_val=True, seed=7),
     "glassnet train --data fashion-mnist --model fc --hidden 512,64 --dropout 0.25 "
     "--lr 0.001 --epochs 3 --seed 7 --num-train 5000 --train-on-val"),
    (TrainConfig(model="mlp", hidden=[], optimizer="sgd", schedule="step", weight_decay=0.0),
     "glassnet train --data digits --model mlp --hidden '' --optimizer sgd --schedule step "
     "--weight-decay 0.0"),
    (TrainConfig(data="mat:my data/set.mat", model="softmax", norm="layernorm"),
     "glassnet train --data 'mat:my data/set.mat' --model softmax --norm layernorm"),
])
def test_the_command_reproduces_the_config(config, command):
    config = config.resolved()
    assert report.train_command(config) == command
    assert parse_train_command(command) == config     # glassnet train reads the same run
    assert report.unexpressed_fields(config) == []


def test_a_convnet_table_from_a_config_file_is_named_as_missing_from_the_command():
    config = TrainConfig(convnet={"hidden_dims": [32]}).resolved()
    assert report.train_command(config) == "glassnet train --data digits --model cnn"
    assert report.unexpressed_fields(config) == ["convnet"]


def _history(iterations=120, per_epoch=20):
    rng = np.random.RandomState(0)
    loss = list(2.3 * np.exp(-np.arange(iterations) / 40.0) + 0.05 * rng.rand(iterations))
    nan = [np.nan] * iterations
    train, val, val_loss = list(nan), list(nan), list(nan)
    for t in range(0, iterations, per_epoch):
        train[t], val[t], val_loss[t] = 0.1 + t / 150.0, 0.1 + t / 160.0, 2.0 - t / 100
    return {"iteration": list(range(1, iterations + 1)),
            "epoch": [t / per_epoch for t in range(iterations)], "loss": loss,
            "train_acc": train, "val_acc": val, "val_loss": val_loss,
            "learning_rate": [1e-3] * iterations}


def test_the_page_puts_the_summary_first_and_formats_everything(tmp_path):
    plots.plot_loss(_history(), tmp_path / "loss.png")
    matrix = confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], 3)
    metrics = {"test_acc": 0.75, "best_val_acc": 0.8, "best_epoch": 4, "epochs": 5,
               "seconds": 72.4, "mean_seconds_per_epoch": 14.5, "num_params": 123456,
               "final_loss": 0.25, "final_val_loss": None, "stop_reason": None,
               "seconds_per_epoch": [14.0, 15.0], "confusion_split": "test",
               "classification": classification_report(matrix, ["<b>cat</b>", "dog", "cow"]),
               "per_class_accuracy": {"<b>cat</b>": 0.5, "dog": 1.0, "cow": None}}
    path = report.write_report(
        tmp_path / "report.html", "run <1>",
        {"model": "<script>alert(1)</script>", "lr": 0.001, "hidden": [256, 128]}, metrics,
        {"Loss": tmp_path / "loss.png", "Missing": tmp_path / "nope.png"},
        about={"data": "digits", "command": "glassnet train --data 'a b'", "date": "finished x",
               "version": "glassnet 9"},
        links=[("model.npz", "model.npz"), ("checkpoints/", "checkpoints/")])
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<title>run &lt;1&gt;</title>" in text
    assert "<script" not in text and "&lt;script&gt;" in text and "&lt;b&gt;cat" in text
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"',
                        text)
    assert [alt for alt, _ in images] == ["Loss"]              # the missing one skipped
    assert base64.b64decode(images[0][1]) == (tmp_path / "loss.png").read_bytes()
    assert "<figcaption" not in text                            # titles are in the pictures
    # the summary comes before the pictures, the tables after them
    order = [text.index(s) for s in ('id="summary"', "75.00 %", "<img", "Per-class results",
                                     "Details", "Configuration")]
    assert order == sorted(order)
    assert "80.00 %" in text and "epoch 4 of 5" in text and "1 min 12 s" in text
    assert "123,456" in text and "glassnet train --data &#x27;a b&#x27;" in text
    assert '<a href="checkpoints/">checkpoints/</a>' in text
    assert "finished x" in text and "glassnet 9" in text
    assert "<td>Stopped</td><td>after the last epoch</td>" in text
    assert "<td>Time per epoch</td><td>14.0 s to 15.0 s</td>" in text
    assert "<td>hidden</td><td>256, 128</td>" in text and "<td>lr</td><td>0.001</td>" in text
    assert "None" not in text and "[" not in text.split("<body>")[1]    # no Python lists
    # the per-class table: scikit-learn's rows, 0 (not NaN) for a class never predicted
    rows = re.findall(r"<tr(?: class=\"total\")?><td>([^<]*)</td><td class=\"num\">([^<]*)"
                      r"</td><td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td>"
                      r"<td class=\"num\">([^<]*)</td></tr>", text)
    assert [html.unescape(r[0]) for r in rows] == ["<b>cat</b>", "dog", "cow", "accuracy",
                                                   "macro avg", "weighted avg"]
    assert rows[0][1:] == ("1.0000", "0.5000", "0.6667", "2")
    assert rows[2][1:] == ("0.0000", "0.0000", "0.0000", "0")
    assert rows[3][1:] == ("", "", "0.7500", "4")


SHORT = TrainConfig(data="digits", model="cnn", epochs=2, batch_size=64, num_train=500,
                    seed=3, convnet={"conv_blocks": [{"filters": 6, "kernel": 3, "pad": 1,
                                                      "pool": 2}], "hidden_dims": [16]})


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    folder = RunFolder.create(tmp_path_factory.mktemp("report") / "short run")
    return folder, train_run(SHORT, folder)


def test_a_run_page_shows_its_own_numbers_and_links_its_files(short_run):
    folder, metrics = short_run
    text = open(folder.report_path, encoding="utf-8").read()
    summary = text[text.index('id="summary"'):text.index("<img")]
    assert report.format_percent(metrics["test_acc"]) in summary
    assert report.format_percent(metrics["best_val_acc"]) in summary
    assert f"epoch {metrics['best_epoch']} of 2" in summary
    assert f"{metrics['num_params']:,}" in summary and "digits" in summary
    assert "500 train" in summary
    command = html.unescape(re.search(r"<code>(.*?)</code>", summary).group(1))
    assert command.startswith("glassnet train --data digits --model cnn ")
    assert "with the convnet settings of config.json in a --config file" in summary
    assert re.search(r"finished \d{4}-\d\d-\d\d \d\d:\d\d", summary)
    hrefs = re.findall(r'<a href="([^"]+)">', summary)
    assert hrefs == ["model.npz", "config.json", "history.csv", "metrics.json", "checkpoints/"]
    for href in hrefs:
        assert os.path.exists(os.path.join(folder.path, href))
    alts = re.findall(r'<img alt="([^"]*)"', text)
    assert alts == ["Loss", "Accuracy", "Learning rate", "First-layer weights",
                    "Confusion matrix (test)"]
    # metrics.json: the per-class table agrees with the per-class accuracy (= recall)
    classes = metrics["classification"]["classes"]
    assert [c["name"] for c in classes] == list(metrics["per_class_accuracy"])
    for c in classes:
        assert c["recall"] == pytest.approx(metrics["per_class_accuracy"][c["name"]] or 0.0)
    assert metrics["classification"]["accuracy"] == pytest.approx(metrics["test_acc"])
    assert metrics["final_val_loss"] > 0 and metrics["examples"]["train"] == 500
    with open(folder.history_path) as f:
        assert f.readline().strip().endswith(",val_loss")


@pytest.mark.requires("chromium")
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs "
                    "Debian's chromium)")
@pytest.mark.parametrize("width, height", [(1280, 900), (500, 800)])
def test_a_run_page_in_a_browser_window(short_run, tmp_path, width, height):
    folder, _ = short_run
    layout = chromium_layout(folder.report_path, tmp_path / "profile", width, height,
                             element_ids=["summary"])
    assert layout["scrollWidth"] <= width, layout          # no horizontal scroll bar
    images = layout["images"]
    assert len(images) == 5 and all(image["loaded"] for image in images), images
    if width == 1280:
        summary = layout["elements"]["summary"]
        viewport_height = min(height, layout["viewport"][1])
        assert 0 <= summary["top"] and summary["bottom"] <= viewport_height, layout
        for image in images:       # two columns, drawn at twice the pixels they are shown
            assert 400 < image["shownWidth"] < 700
            assert image["naturalWidth"] >= 2 * image["shownWidth"], image
