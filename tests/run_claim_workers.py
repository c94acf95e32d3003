"""A process that races others to claim run folders (tests/experiment/test_runs.py).

Each worker waits at a shared barrier before every claim, so all of them call
``RunFolder.create`` at the same moment, and reports ``(index, (kind, detail))`` on a queue:
``("won", run id or path)``, ``("refused", message)`` or ``("crashed", repr)``.
"""
from glassnet.experiment.run_folder import RunFolder, RunFolderError


def claim(barrier, queue, paths, mode):
    for index, path in enumerate(paths):
        barrier.wait(timeout=120)
        try:
            if mode == "unique":
                outcome = ("won", RunFolder.create(path, unique=True).path)
            else:
                folder = RunFolder.create(path, overwrite=mode == "overwrite")
                outcome = ("won", folder.claimed_run_id)
        except RunFolderError as exc:
            outcome = ("refused", str(exc))
        except BaseException as exc:   # a finding: report it, go on
            outcome = ("crashed", repr(exc))
        queue.put((index, outcome))
