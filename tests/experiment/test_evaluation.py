"""Per-class precision, recall, F1 and support (glassnet.experiment.evaluation): hand-computed
values, the formulas on random matrices, scikit-learn where it is installed, and the text
layout of scikit-learn's classification_report."""
import importlib.util

import numpy as np
import pytest

from glassnet.experiment.evaluation import (classification_report, confusion_matrix,
                                            format_classification_report, per_class_accuracy)

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None


def test_hand_computed_report_and_a_class_never_predicted():
    # true 0 0 1 1 1 2, predicted 0 1 1 1 0 1; class 2 is never predicted, class 3 unseen
    matrix = confusion_matrix([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 0, 1], 4)
    report = classification_report(matrix, ["cat", "dog", "bird", "fish"])
    cat, dog, bird, fish = report["classes"]
    assert cat == {"name": "cat", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert dog["precision"] == pytest.approx(2 / 4) and dog["recall"] == pytest.approx(2 / 3)
    assert dog["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) and dog["support"] == 3
    assert bird == {"name": "bird", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert fish == {"name": "fish", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["accuracy"] == pytest.approx(3 / 6) and report["total"] == 6
    macro = report["macro avg"]
    assert macro["precision"] == pytest.approx((0.5 + 0.5) / 4)
    assert macro["recall"] == pytest.approx((0.5 + 2 / 3) / 4) and macro["support"] == 6
    weighted = report["weighted avg"]
    assert weighted["recall"] == pytest.approx(report["accuracy"])   # always, by definition
    assert weighted["f1"] == pytest.approx((2 * 0.5 + 3 * dog["f1"]) / 6)
    for entry in report["classes"] + [macro, weighted]:
        assert all(np.isfinite(v) for k, v in entry.items() if k != "name")


def test_formulas_on_random_matrices():
    rng = np.random.RandomState(0)
    for C in (2, 5, 13):
        y = rng.randint(C, size=400)
        pred = np.where(rng.rand(400) < 0.6, y, rng.randint(C, size=400))
        matrix = confusion_matrix(y, pred, C)
        report = classification_report(matrix)
        for k, c in enumerate(report["classes"]):
            tp = np.sum((pred == k) & (y == k))
            precision = tp / max(np.sum(pred == k), 1)
            recall = tp / max(np.sum(y == k), 1)
            assert c["name"] == str(k) and c["support"] == np.sum(y == k)
            assert c["precision"] == pytest.approx(precision, abs=1e-15)
            assert c["recall"] == pytest.approx(recall, abs=1e-15)
            assert c["recall"] == pytest.approx(per_class_accuracy(matrix)[k])
            assert c["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
        assert report["accuracy"] == pytest.approx(np.mean(y == pred))


@pytest.mark.skipif(not HAVE_SKLEARN, reason="scikit-learn is not installed (the formulas "
                    "above check the same numbers)")
def test_numbers_and_text_match_scikit_learn():
    from sklearn.metrics import classification_report as sk_report
    rng = np.random.RandomState(1)
    y = rng.randint(6, size=500)
    pred = np.where(rng.rand(500) < 0.7, y, rng.randint(6, size=500))
    pred[pred == 4] = 5                                   # class 4 is never predicted
    names = ["plane", "car", "bird", "cat", "deer", "dog"]
    matrix = confusion_matrix(y, pred, 6)
    ours = classification_report(matrix, names)
    theirs = sk_report(y, pred, labels=range(6), target_names=names, output_dict=True,
                       zero_division=0)
    for c in ours["classes"]:
        t = theirs[c["name"]]
        assert (c["precision"], c["recall"], c["f1"], c["support"]) == pytest.approx(
            (t["precision"], t["recall"], t["f1-score"], t["support"]), abs=1e-12)
    for avg in ("macro avg", "weighted avg"):
        assert (ours[avg]["precision"], ours[avg]["recall"], ours[avg]["f1"]) == pytest.approx(
            (theirs[avg]["precision"], theirs[avg]["recall"], theirs[avg]["f1-score"]))
    text = sk_report(y, pred, labels=range(6), target_names=names, digits=4, zero_division=0)
    assert format_classification_report(ours).rstrip() == text.rstrip()


def test_text_layout():
    report = classification_report(confusion_matrix([0, 1, 1], [0, 1, 0], 2),
                                   ["zero", "a long class name"])
    lines = format_classification_report(report, digits=2).splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[1] == "" and lines[4] == ""
    assert lines[2].split() == ["zero", "0.50", "1.00", "0.67", "1"]
    assert lines[3].startswith("a long class name ")
    assert lines[5].split() == ["accuracy", "0.67", "3"]
    assert lines[6].split()[:2] == ["macro", "avg"] and lines[7].split()[-1] == "3"
    widths = {len(line) for line in lines if line}
    assert len(widths) == 1                               # right-aligned columns


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"matrix must be a square \(C, C\) confusion matrix; "
                                         r"got shape \(2, 3\)"):
        classification_report(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="non-negative integer counts; got dtype float64"):
        classification_report(np.eye(2))
    with pytest.raises(ValueError, match="class_names must name the 2 classes; got 3"):
        classification_report(np.eye(2, dtype=int), ["a", "b", "c"])
