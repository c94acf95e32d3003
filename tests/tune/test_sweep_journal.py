"""A sweep's journal file, damaged: detected before Optuna reads it, never written after,
repaired into a new journal with every complete record while the damaged file is kept.

The damaged journals come from ``sweep_journals.py`` (torn last records at many offsets,
NUL tails, records appended after a torn one, corrupted op codes, wrong field types,
truncated middle records, bad UTF-8, nesting and length bombs)."""
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
from optuna.trial import TrialState

import sweep_journals as sj
import sweep_workers as sw
from glassnet import tune
from glassnet.cli import main
from glassnet.tune import journal
from glassnet.tune.journal_repair import repair_journal
from glassnet.tune.storage import load_study, open_storage

TINY = ["--data", "digits", "--model", "fc", "--epochs", "1", "--num-train", "200",
        "--batch-size", "50", "--pruner", "none"]


@pytest.fixture(scope="module")
def valid_journal(tmp_path_factory):
    """The bytes of a real sweep's journal: a grid of 3 queued trials and 2 drawn ones."""
    folder = tmp_path_factory.mktemp("valid")
    tune.run({"x": [0.1, 0.2, 0.3]}, factory=sw.make_tiny, data=sw.tiny_data(), pruner="none",
             folder=str(folder / "g"), name="v", quiet=True, report=False)
    with open(folder / "g" / "study.journal", "rb") as f:
        return f.read()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write(path, content):
    with open(path, "wb") as f:
        f.write(content)
    return str(path)


def test_the_valid_journal_passes_and_every_line_is_a_record(valid_journal, tmp_path):
    path = write(tmp_path / "ok.journal", valid_journal)
    scan = journal.scan_journal(path)
    assert scan.damage == [] and scan.records == valid_journal.count(b"\n")
    ops = {json.loads(line)["op_code"] for line in valid_journal.splitlines()}
    assert {0, 2, 4, 5, 6, 7, 8} <= ops          # the corpus exercises every kind glassnet writes
    study = load_study(path, "v")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_every_damaged_journal_is_refused_before_optuna_reads_it(valid_journal, tmp_path):
    cases = sj.damaged_journals(valid_journal)
    wrong = []
    for i, case in enumerate(cases):
        path = write(tmp_path / f"{i:03d}.journal", case.content)
        try:
            load_study(path, "v")
            wrong.append(f"{case.name}: read without a word")
        except journal.JournalDamagedError as exc:
            message = str(exc)
            if path not in message or "glassnet sweep repair" not in message:
                wrong.append(f"{case.name}: the message does not name the file and the "
                             f"repair: {message[:300]}")
        except Exception as exc:   # anything else is what the user saw before
            wrong.append(f"{case.name}: {type(exc).__name__}: {str(exc)[:200]}")
        if sha(path) != hashlib.sha256(case.content).hexdigest():
            wrong.append(f"{case.name}: the file was changed")
    print(f"\n{len(cases)} damaged journals refused")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_bit_flips_read_or_are_refused_never_anything_else(valid_journal, tmp_path):
    wrong = []
    for i, (name, content) in enumerate(sj.bit_flips(valid_journal, 150)):
        path = write(tmp_path / f"{i:03d}.journal", content)
        try:
            open_storage(path).get_all_studies()
        except journal.JournalDamagedError as exc:
            if path not in str(exc):
                wrong.append(f"{name}: message without the file: {exc}")
        except Exception as exc:
            wrong.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
    assert not wrong, "\n".join(wrong)


def records_of(path):
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


@pytest.mark.slow
def test_repair_keeps_every_complete_record_and_the_damaged_original(valid_journal, tmp_path):
    cases = [c for c in sj.damaged_journals(valid_journal) if c.safe]
    kept = dropped = 0
    for i, case in enumerate(cases):
        folder = tmp_path / f"{i:03d}"
        folder.mkdir()
        path = write(folder / "study.journal", case.content)
        report = repair_journal(path)
        assert records_of(path) == case.kept, case.name
        assert report.kept == len(case.kept), case.name
        backups = [name for name in os.listdir(folder) if name != "study.journal"]
        assert backups == [os.path.basename(report.backup)], (case.name, backups)
        with open(report.backup, "rb") as f:
            assert f.read() == case.content, case.name          # the original, byte for byte
        assert journal.scan_journal(path).damage == []
        load_study(path, "v").trials                             # Optuna reads it again
        kept += report.kept
        dropped += len(report.dropped)
    print(f"\n{len(cases)} damaged journals repaired: {kept} records kept, "
          f"{dropped} damaged pieces left in the backups")


def test_damage_in_the_middle_is_not_repaired_unless_truncate_is_asked(valid_journal, tmp_path):
    cases = [c for c in sj.damaged_journals(valid_journal) if not c.safe]
    assert len(cases) >= 20
    for i, case in enumerate(cases):
        folder = tmp_path / f"{i:03d}"
        folder.mkdir()
        path = write(folder / "study.journal", case.content)
        with pytest.raises(journal.JournalDamagedError, match=r"line \d+.*--truncate") as info:
            repair_journal(path)
        assert path in str(info.value)
        assert os.listdir(folder) == ["study.journal"], case.name   # nothing written
        assert sha(path) == hashlib.sha256(case.content).hexdigest()
        report = repair_journal(path, truncate=True)
        assert records_of(path) == case.kept, case.name
        with open(report.backup, "rb") as f:
            assert f.read() == case.content


def test_an_undamaged_journal_is_left_alone(valid_journal, tmp_path):
    path = write(tmp_path / "study.journal", valid_journal)
    report = repair_journal(path)
    assert report.backup is None and report.kept == valid_journal.count(b"\n")
    assert os.listdir(tmp_path) == ["study.journal"] and sha(path) == \
        hashlib.sha256(valid_journal).hexdigest()


def test_nothing_is_appended_to_a_journal_torn_while_it_is_open(valid_journal, tmp_path):
    path = write(tmp_path / "study.journal", valid_journal)
    study = load_study(path, "v")
    torn = valid_journal + b'{"op_code":8,"worker_id":"x","tri'
    write(path, torn)                               # another process died mid-write
    with pytest.raises(journal.JournalDamagedError, match=re.escape(path)):
        study.set_user_attr("after", 1)
    with open(path, "rb") as f:
        assert f.read() == torn


def glassnet(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_a_power_cut_then_resume_then_repair_loses_nothing(tmp_path, capsys):
    """The reported bug, end to end: a torn last record made --resume append after it and
    the whole sweep unreadable. Now resume refuses, repair recovers, resume continues."""
    folder = tmp_path / "s"
    run = ["sweep", "run", *TINY, "--param", "lr=grid:0.003,0.01,0.03", "--name", "s",
           "--out", str(folder), "--quiet"]
    # in its own process, which is gone when the power is cut
    subprocess.run([sys.executable, "-m", "glassnet", *run], check=True, timeout=300,
                   capture_output=True)
    path = str(folder / "study.journal")
    with open(path, "rb") as f:
        whole = f.read()
    lines = whole.splitlines(keepends=True)
    torn = b"".join(lines[:-1]) + lines[-1][:40]     # the last write cut short
    write(path, torn)
    for argv in (run + ["--resume"], ["sweep", "status", "s", "--out", str(folder)],
                 ["sweep", "best", "s", "--out", str(folder)]):
        code, out, err = glassnet(capsys, *argv)
        assert code == 1, (argv, out, err)
        assert path in err and f"glassnet sweep repair --storage {path}" in err
        assert err.count("\n") <= 3 and "Traceback" not in err
        with open(path, "rb") as f:
            assert f.read() == torn                  # never written after the damage
    code, out, err = glassnet(capsys, "sweep", "repair", "s", "--out", str(folder))
    assert code == 0, err
    assert f"{len(lines) - 1} complete records" in out and ".damaged-" in out
    backups = [n for n in os.listdir(folder) if ".damaged-" in n]
    assert len(backups) == 1
    with open(folder / backups[0], "rb") as f:
        assert f.read() == torn
    assert records_of(path) == lines[:-1]
    code, out, err = glassnet(capsys, *run, "--resume")
    assert code == 0, err
    code, out, err = glassnet(capsys, "sweep", "status", "s", "--out", str(folder))
    # the torn record finished trial 2: it was left running, so it is run again
    assert code == 0 and "4 trials: 3 complete, 1 fail, 1 retried" in out, out
    study = load_study(path, "s")
    assert sorted(t.params["lr"] for t in study.trials if t.state == TrialState.COMPLETE) == \
        [0.003, 0.01, 0.03]


def test_repair_of_a_database_url_is_refused(capsys):
    code, _, err = glassnet(capsys, "sweep", "repair", "--storage",
                            "postgresql+psycopg://u@localhost/x")
    assert code == 1 and "journal file" in err
