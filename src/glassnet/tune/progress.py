"""What a person sees while a sweep runs: one progress bar over trials and one line per
finished trial, e.g. ``trial 12: val 0.9810, best so far trial 7 0.9850``.

:class:`Progress` reads the study (not the workers), so it shows every trial that ends,
whichever process or machine ran it; ``poll(study)`` is called after each trial or every
half second.
"""
import datetime
import sys

__all__ = ["Progress", "trial_line"]


def trial_line(trial, best):
    """The line for a finished trial; ``best`` is the best COMPLETE trial so far (or None)."""
    from optuna.trial import TrialState
    number = trial.number
    if trial.state == TrialState.COMPLETE:
        text = f"trial {number}: val {trial.value:.4f}"
    elif trial.state == TrialState.PRUNED:
        if trial.user_attrs.get("skipped"):
            return None
        steps = trial.intermediate_values
        last = max(steps) if steps else 0
        val = f" (val {steps[last]:.4f})" if steps else ""
        text = f"trial {number}: pruned after epoch {last}{val}"
    else:
        text = f"trial {number}: failed"
        if trial.user_attrs.get("error"):
            text += f" ({trial.user_attrs['error'].splitlines()[0][:120]})"
    if best is not None:
        text += f", best so far trial {best.number} {best.value:.4f}"
    return text


class Progress:
    """A tqdm bar of ``total`` trials (when tqdm is installed, stderr is a terminal and not
    ``quiet``) plus the per-trial lines (printed unless ``quiet``)."""

    def __init__(self, total=None, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.seen = set()
        self.best = None
        self.bar = None
        if not quiet and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="trial", desc="sweep", file=sys.stderr,
                                dynamic_ncols=True, leave=False)

    def _write(self, line):
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def skip_existing(self, study):
        """Count the trials that had already ended (a resumed sweep, a late worker) without
        printing them; the best of them still counts as the best so far."""
        self.quiet, quiet = True, self.quiet
        try:
            self.poll(study)
        finally:
            self.quiet = quiet

    def poll(self, study):
        """Print the trials that ended since the last call, in the order they ended."""
        from optuna.trial import TrialState
        finished = [t for t in study.get_trials(deepcopy=False)
                    if t.state.is_finished() and t.number not in self.seen]
        finished.sort(key=lambda t: (t.datetime_complete or datetime.datetime.min, t.number))
        for trial in finished:
            self.seen.add(trial.number)
            if trial.state == TrialState.COMPLETE and (self.best is None
                                                       or trial.value > self.best.value):
                self.best = trial
            line = trial_line(trial, self.best)
            if line is not None:
                self._write(line)
                if self.bar is not None:
                    self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
