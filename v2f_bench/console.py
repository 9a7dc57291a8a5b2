"""What a run prints for people: one line per stage, and one live progress line per search.

By default Ray's own console output stays out of the way: no trial tables (``RunConfig(verbose=0)``; the
experiment header and TensorBoard hint that Ray 2.60 prints even then are held back by ``fit``), no
worker output forwarded to the driver (``log_to_driver=False`` in Ray's init: checkpoint notices, a worker's
shutdown noise), and Ray's Tune and Train loggers raised to CRITICAL, so a failed trial is counted on the
progress line and named in the summary rather than printed as a traceback. Ray still writes all of it to
its log files (``/tmp/ray/session_latest/logs``) and every trial's error to its ``error.txt``.
``--verbose`` (``set_verbose(True)``) restores Ray's output as Ray prints it.

The progress line (``SearchProgress``) goes to stderr, like the progress bars, so stdout stays the
results: on a terminal it is redrawn in place; elsewhere (a log file, CI) it is printed as a new line
whenever a trial starts or ends.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time

_state = {"verbose": False}
QUIET_LOGGERS = ("ray.tune", "ray.train", "ray.air", "ray.data")


def set_verbose(flag: bool) -> None:
    """Show Ray's own console output (``True``) or keep to the lines of this module (``False``, the default)."""
    _state["verbose"] = bool(flag)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if flag else logging.CRITICAL)


def verbose() -> bool:
    return _state["verbose"]


def ray_init_options() -> dict:
    """The console options of ``ray.init``: worker output forwarded and Ray's start-up messages and warnings only when verbose."""
    return {"log_to_driver": verbose(), "logging_level": logging.INFO if verbose() else logging.ERROR}


def tune_verbosity() -> int:
    """``RunConfig(verbose=...)``: Ray's trial tables when verbose, nothing otherwise."""
    import optuna

    set_verbose(verbose())  # Ray sets its loggers' levels when it is imported; set ours after that
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose() else optuna.logging.WARNING)  # "A new study created ..."
    return 1 if verbose() else 0


def fit(tuner):
    """``tuner.fit()``; unless verbose, what Ray prints to stdout meanwhile (its experiment header, the path and
    TensorBoard hint it prints whatever the verbosity) is dropped: the progress line says where the search stands."""
    if verbose():
        return tuner.fit()
    with contextlib.redirect_stdout(io.StringIO()):
        return tuner.fit()


def stage(text: str) -> None:
    """One line about a stage, on stdout."""
    print(text, flush=True)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def search_progress(name: str, trials: int, compute=None):
    """The live progress line of search ``name`` of at most ``trials`` trials under ``compute`` (a
    ``compute.ComputeBudget`` or None): a Ray Tune callback, or None when Ray's own output is shown."""
    if verbose():
        return None
    from ray import tune

    class SearchProgress(tune.Callback):
        """Trials done, running and failed; the compute budget spent (or trials run) of the whole; time left."""

        def __init__(self):
            self.started = time.monotonic()
            self.tty = sys.stderr.isatty()
            self.last = ""

        def line(self, running_trials, final: bool = False) -> str:
            statuses = [t.status for t in running_trials]
            done, running, failed = statuses.count("TERMINATED"), statuses.count("RUNNING"), statuses.count("ERROR")
            text = f"{name}: {done} done, {running} running, {failed} failed"
            elapsed = time.monotonic() - self.started
            if compute is not None:
                from v2f_bench.compute import format_flops

                spent = sum(float((t.last_result or {}).get(compute.key, 0.0) or 0.0) for t in running_trials)
                fraction = min(1.0, spent / compute.amount) if compute.amount else 1.0
                shown = (lambda v: format_flops(v)) if compute.unit == "flops" else (lambda v: f"{v:,.0f} {compute.unit}")
                text += f"; {shown(spent)} of {shown(compute.amount)}"
            else:
                fraction = (done + failed) / trials if trials else 1.0
                text += f"; {done + failed} of {trials} trials"
            if 0 < fraction < 1 and not final:
                text += f"; about {format_duration(elapsed * (1 - fraction) / fraction)} left"
            return text + f" ({format_duration(elapsed)})"

        def show(self, trials, final: bool = False) -> None:
            text = self.line(trials, final)
            if self.tty:
                sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
                sys.stderr.flush()
            elif text.split(" (")[0] != self.last.split(" (")[0] or final:
                print(text, file=sys.stderr, flush=True)
            self.last = text

        def on_trial_start(self, iteration, trials, trial, **info):
            self.show(trials)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if self.tty:
                self.show(trials)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.show(trials)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.show(trials)

        def on_experiment_end(self, trials, **info):
            self.show(trials, final=True)

    return SearchProgress()
