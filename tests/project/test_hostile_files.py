"""The hostile-file corpus: every loader, in a subprocess under an address-space limit.

The files are generated here (see ``hostile.py`` and ``hostile_datasets.py``): the crafted CIFAR-10 pickles of the
hostile-file report (dtype changed by BUILD, zero strides, arrays without a buffer, sizes of
2^40 bytes, protocol 5 out of band, code-running globals), truncations at many offsets, bit
flips, gzip, zlib and zip bombs, lying zip headers and wrong-type ``.npy`` headers, and
deeply nested JSON and TOML (``hostile_nesting.py``) for the run folder, model and config
readers. Each
loader reads its share of the corpus in one subprocess whose address space may grow by at
most :data:`ADDRESS_SPACE_LIMIT` bytes past what it maps once the loaders are imported
(``resource.setrlimit(RLIMIT_AS)``); every file must end in a ``ValueError``
(or, for a bit flip that leaves a valid file, load), never another exception, a
``MemoryError`` or a signal. The number of files tried is printed and recorded as the
test property ``hostile_files``.

Run folders (``hostile_runs.py``) go through the same runner: folders that are not runs,
links, FIFOs and folders in place of a run's files, forged and mutated markers, for
``--overwrite`` and ``--resume``, each compared byte for byte before and after; and
damaged ``ckpt_latest.npz`` files, which resume must name with their reason.

Sweep journals (``sweep_journals.py``): torn last records, NUL tails, records appended after
a torn one, corrupted op codes and field types, truncated middle records, bad UTF-8,
nesting and length bombs, and bit flips of a real sweep's journal: each is refused with a
ValueError naming the file before Optuna replays it, or (a bit flip) still reads.
"""
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import hostile
import hostile_datasets
import hostile_nesting
import hostile_runs
from glassnet._core.files import save_npz
from glassnet.experiment.run_folder import MARKER
from paths import TESTS_DIR

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

ADDRESS_SPACE_LIMIT = 1 << 30
RUNNER = str(TESTS_DIR / "hostile_runner.py")
TRAIN_PER_BATCH = 2


def run_corpus(tmp_path, cases):
    """Run ``cases`` (dicts with loader, path, expect, name) in one limited subprocess;
    return the outcome of each (asserting the process itself ended cleanly)."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(cases))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, RUNNER, str(manifest), str(ADDRESS_SPACE_LIMIT)],
                          capture_output=True, text=True, env=env, timeout=600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    started = [line["start"] for line in lines if "start" in line]
    last = cases[started[-1]]["name"] if started else None
    assert proc.returncode == 0, (f"the loader process ended with code {proc.returncode} "
                                  f"while reading {last!r}:\n{proc.stderr[-3000:]}")
    results = [line for line in lines if "outcome" in line]
    assert len(results) == len(cases), f"stopped after {len(results)} of {len(cases)} files"
    return results


def check_outcomes(cases, results, record_property, label):
    wrong = []
    for case, result in zip(cases, results):
        allowed = {"error": {"ValueError"}, "either": {"ValueError", "ok"},
                   "ok": {"ok"}}[case["expect"]]
        if result["outcome"] not in allowed:
            wrong.append(f"{case['name']}: {result['outcome']}: {result['message']}")
    record_property(f"hostile_files_{label}", len(cases))
    print(f"\n{label}: {len(cases)} hostile files, "
          f"{sum(r['outcome'] == 'ValueError' for r in results)} refused with ValueError")
    assert not wrong, "\n".join(wrong[:30])


def write_cases(folder, loader, triples):
    os.makedirs(folder, exist_ok=True)
    cases = []
    for i, (name, content, expect) in enumerate(triples):
        path = os.path.join(folder, f"{i:04d}")
        with open(path, "wb") as f:
            f.write(content)
        cases.append({"loader": loader, "path": path, "expect": expect, "name": name})
    return cases


def cifar_folder_case(root, name, content, expect):
    """A cifar-10-batches-py folder of valid small batches with data_batch_3 replaced."""
    folder = os.path.join(root, name)
    os.makedirs(folder)
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(os.path.join(folder, batch), "wb") as f:
            f.write(content if batch == "data_batch_3" else
                    hostile.valid_batch(2, TRAIN_PER_BATCH, seed=len(batch)))
    return {"loader": "cifar_folder", "path": folder, "expect": expect, "name": name}


def test_cifar_batches(tmp_path, record_property):
    triples = [(f"valid-protocol-{p}", hostile.valid_batch(p), "ok") for p in range(6)]
    triples += hostile.crafted_cifar_pickles()
    for protocol in range(6):
        triples += hostile.mutated(f"protocol-{protocol}", hostile.valid_batch(protocol, 3),
                                   100, 100, seed=protocol)
    python2 = hostile.batch_pickle(hostile.reconstruct(
        (3, 3072), hostile.plain_dtype(), hostile.binbytes(bytes(range(256)) * 36)), n=3)
    triples.append(("python2-style", python2, "ok"))
    triples += hostile.mutated("python2-style", python2, 100, 100, seed=9)
    cases = write_cases(tmp_path / "batches", "cifar_batch", triples)
    folders = [cifar_folder_case(tmp_path / "folders", name, content, expect)
               for name, content, expect in hostile.crafted_cifar_pickles()[:25]
               + [("valid", hostile.valid_batch(2), "ok")]]
    cases += folders
    check_outcomes(cases, run_corpus(tmp_path, cases), record_property, "cifar10")


def test_mnist_folders(tmp_path, record_property):
    arrays = hostile_datasets.mnist_arrays()
    cases = []
    images, labels = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
    hostile_files = [(images, t) for t in hostile_datasets.hostile_train_images()]
    hostile_files += [(labels, t) for t in hostile_datasets.hostile_train_labels()]
    hostile_files.append(("train-images-idx3-ubyte", ("valid", hostile_datasets.idx_bytes(
        arrays["train-images-idx3-ubyte"]), "ok")))
    for i, (stem, (name, content, expect)) in enumerate(hostile_files):
        folder = tmp_path / f"m{i:04d}"
        folder.mkdir()
        for other, array in arrays.items():
            if other != stem:
                (folder / other).write_bytes(hostile_datasets.idx_bytes(array))
        suffix = ".gz" if content[:2] == b"\x1f\x8b" else ""
        (folder / (stem + suffix)).write_bytes(content)
        cases.append({"loader": "mnist_folder", "path": str(folder), "expect": expect,
                      "name": f"{stem}:{name}"})
    check_outcomes(cases, run_corpus(tmp_path, cases), record_property, "idx")


def test_mat_files(tmp_path, record_property):
    scipy_io = pytest.importorskip("scipy.io", reason="SciPy writes the .mat test files")
    triples = hostile_datasets.hostile_mat_files(scipy_io.savemat)
    without_test = io.BytesIO()
    scipy_io.savemat(without_test, {"training_data": np.ones((3, 2)),
                                    "training_labels": np.array([0, 1, 0])})
    cases = write_cases(tmp_path / "mat", "mat", triples)
    cases += write_cases(tmp_path / "mat_dataset", "mat_dataset",
                         triples[:20] + [("no-test-data", without_test.getvalue(), "ok")])
    check_outcomes(cases, run_corpus(tmp_path, cases), record_property, "mat")


def test_npz_files(tmp_path, record_property):
    def save_npz_bytes(arrays, meta):
        path = tmp_path / "valid.npz"
        save_npz(path, arrays, meta)
        return path.read_bytes()
    triples = hostile.hostile_npz_files(save_npz_bytes)
    triples.append(("valid", save_npz_bytes({"a": np.ones(2)}, {"v": 1}), "ok"))
    cases = write_cases(tmp_path / "npz", "npz", triples)
    check_outcomes(cases, run_corpus(tmp_path, cases), record_property, "npz")


def test_nested_json_and_toml(tmp_path, record_property):
    """Deeply nested JSON (a run's config.json, a model file's metadata) and TOML (a
    --config file, a --model file), every one under the 1 MiB cap: each deep one is
    refused with a ValueError that names the limit, never a RecursionError; brackets in
    strings and comments are not nesting."""
    json_files = hostile_nesting.nested_json_objects()
    weights = hostile.npy_bytes(np.ones(3))
    npz_files = [(name, hostile.zip_bytes({
        hostile.META + ".npy": hostile.npy_bytes(np.frombuffer(content, dtype=np.uint8)),
        "param/W1.npy": weights}), expect) for name, content, expect in json_files]
    cases = (write_cases(tmp_path / "json", "run_json", json_files)
             + write_cases(tmp_path / "npz", "npz", npz_files)
             + write_cases(tmp_path / "toml", "toml_settings",
                           hostile_nesting.nested_toml_settings())
             + write_cases(tmp_path / "model", "toml_model", hostile_nesting.nested_model_files()))
    results = run_corpus(tmp_path, cases)
    check_outcomes(cases, results, record_property, "nesting")
    unclear = [f"{case['loader']} {case['name']}: {result['message']}"
               for case, result in zip(cases, results) if case["name"].startswith("deep")
               and f"at most {hostile_nesting.LIMIT} levels" not in result["message"]]
    assert not unclear, "\n".join(unclear[:20])


# ---- run folders: --overwrite and --resume never touch what glassnet cannot prove ------


def test_hostile_run_folders(tmp_path, record_property):
    """Folders that are not runs, runs with a link, FIFO or folder where a file belongs, a
    forged, mutated or moved marker, a config.json of another run: --overwrite refuses each
    without changing a byte, or (a proven run) removes only the run's own regular files;
    the resume check changes nothing; nothing outside a run is ever touched."""
    def build(name):
        root, outside = tmp_path / name, tmp_path / f"{name}-outside"
        built = hostile_runs.hostile_run_folders(str(root), str(outside))
        return built, outside, root
    overwrite, outside_o, root_o = build("overwrite")
    resume, outside_r, root_r = build("resume")
    cases = ([{"loader": "run_overwrite", "path": p, "expect": e, "name": n}
              for n, p, e in overwrite]
             + [{"loader": "run_resume_check", "path": p, "expect": e, "name": n}
                for n, p, e in resume])
    before = [hostile_runs.snapshot(case["path"]) for case in cases]
    fixed = {p: hostile_runs.snapshot(p) for p in (outside_o, outside_r,
                                                    root_o / "linked-run-target")}
    results = run_corpus(tmp_path, cases)
    marker = os.path.join(".", MARKER)
    wrong = []
    for case, result, old in zip(cases, results, before):
        what = f"{case['loader']} {case['name']}: {result['outcome']} {result['message']}"
        new = hostile_runs.snapshot(case["path"])
        expect = case["expect"]
        if case["loader"] == "run_resume_check":
            expect = hostile_runs.RESUME_EXPECT.get(case["name"], expect)
        allowed = {"refuse": {"ValueError"}, "ok": {"ok"},
                   "either": {"ok", "ValueError"}}[expect]
        if result["outcome"] not in allowed:
            wrong.append(what)
        elif result["outcome"] == "ValueError" or case["loader"] == "run_resume_check":
            if new != old:
                wrong.append(what + " (the folder changed)")
        else:       # a proven run overwritten: only its own files went, a new marker came
            kept = {rel: entry for rel, entry in old.items()
                    if not _owned(rel, entry) and rel != marker}
            new_marker = new.pop(marker, None)
            if new != kept or new_marker in (None, old.get(marker)):
                wrong.append(what + f" (differs in {sorted(set(new) ^ set(kept))})")
    for path, tree in fixed.items():
        if hostile_runs.snapshot(path) != tree:
            wrong.append(f"{path} changed")
    record_property("hostile_run_folders", len(cases))
    print(f"\nrun folders: {len(cases)} hostile cases, "
          f"{sum(r['outcome'] == 'ValueError' for r in results)} refused")
    assert not wrong, "\n".join(wrong[:30])


def _owned(rel, entry):
    """Whether --overwrite of a proven run may remove this entry of its snapshot."""
    parts = rel.split(os.sep)[1:]
    if entry[0] != "file":
        return False
    if len(parts) == 1:
        return parts[0] in hostile_runs.OWNED_TOP or bool(hostile_runs.ASIDE.match(parts[0]))
    return len(parts) == 2 and parts[0] == "checkpoints" and \
        hostile_runs.owned_in_checkpoints(parts[1])


def test_damaged_checkpoints(tmp_path, record_property):
    """ckpt_latest.npz truncated, bit-flipped and stomped: resume names it and why, and
    either falls back to the epoch checkpoint in one line or, with none left, refuses
    without calling it missing; a mutation that leaves a valid file resumes from it."""
    source = hostile_runs.checkpointed_run(tmp_path / "source")
    with open(source.latest_checkpoint_path, "rb") as f:
        latest = f.read()
    cases = []
    for i, (name, content, expect) in enumerate(hostile.mutated("latest", latest, 40, 40)):
        for variant, drop in (("with-epoch", (2,)), ("alone", (1, 2))):
            path = tmp_path / variant / f"{i:04d}"
            shutil.copytree(source.path, path)
            folder = hostile_runs.RunFolder(path)
            for epoch in drop:
                os.remove(folder.epoch_checkpoint_path(epoch))
            with open(folder.latest_checkpoint_path, "wb") as f:
                f.write(content)
            cases.append({"loader": "run_resume_point", "path": str(path), "expect": expect,
                          "name": f"{variant}:{name}", "variant": variant})
    results = run_corpus(tmp_path, cases)
    fallback = re.compile(r"checkpoints/ckpt_latest\.npz is damaged \(.+\); resuming from "
                          r"checkpoints/ckpt_epoch_1\.npz \(epoch 1, iteration 5\) instead\Z")
    refusal = re.compile(r"cannot resume .*: checkpoints/ckpt_latest\.npz is damaged \(.+\); "
                         r"no other complete checkpoint is left")
    wrong = []
    for case, result in zip(cases, results):
        outcome, message = result["outcome"], result["message"]
        if outcome == "ok" and message == "":
            good = case["expect"] == "either"           # still a valid checkpoint
        elif case["variant"] == "with-epoch":
            good = outcome == "ok" and fallback.match(message)
        else:
            good = outcome == "ValueError" and refusal.match(message) and \
                "first epoch" not in message
        if not good:
            wrong.append(f"{case['name']}: {outcome}: {message}")
    record_property("hostile_checkpoints", len(cases))
    print(f"\ndamaged checkpoints: {len(cases)} cases, "
          f"{sum(bool(r['message']) for r in results)} named as damaged")
    assert not wrong, "\n".join(wrong[:30])


def test_damaged_sweep_journals(tmp_path, record_property):
    pytest.importorskip("optuna", reason="sweeps need the 'sweep' extra")
    import sweep_journals
    import sweep_workers
    from glassnet import tune
    tune.run({"x": [0.1, 0.2, 0.3]}, factory=sweep_workers.make_tiny,
             data=sweep_workers.tiny_data(), pruner="none", folder=str(tmp_path / "valid"),
             name="v", quiet=True, report=False)
    with open(tmp_path / "valid" / "study.journal", "rb") as f:
        valid = f.read()
    triples = [("valid", valid, "ok"), ("valid-crlf", valid.replace(b"\n", b"\r\n"), "ok")]
    triples += [(case.name, case.content, "error")
                for case in sweep_journals.damaged_journals(valid)]
    triples += [(name, content, "either")
                for name, content in sweep_journals.bit_flips(valid, 200, seed=1)]
    cases = write_cases(tmp_path / "journals", "sweep_journal", triples)
    check_outcomes(cases, run_corpus(tmp_path, cases), record_property, "sweep_journals")
