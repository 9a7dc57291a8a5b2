"""``v2f-bench status RUN``: where a running or finished search or comparison stands, without stopping it.

Read-only, from the experiment files on a path or a URI (``storage``), so it works on a live
search, on a finished one and on a half-written copy. Per search:

- trials by state. With Ray's experiment state readable: done (TERMINATED), running (RUNNING),
  failed (ERROR), pending (PENDING or PAUSED, plus the budget's trials not suggested yet). Without
  it, from the trial folders: done (completed or stopped), failed, and unfinished.
- the best validation value so far, in the direction the search record declares;
- the budget spent: trials started of ``budget.trials``, and the trial-seconds used;
- an estimate of the time to finish: mean time of the finished trials x the trials not finished,
  divided by the search's concurrency (unknown until a trial has finished).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from v2f_bench.report.collect import read_experiments
from v2f_bench.storage import Location, read_trial_states


@dataclass
class SearchStatus:
    experiment: str
    target: str
    metric: str
    mode: str
    trials_budget: int | None
    done: int
    running: int
    failed: int
    pending: int
    unfinished: int
    best: float
    trial_seconds: float
    eta_s: float

    @property
    def finished(self) -> bool:
        """No trial running, pending or unfinished."""
        return not (self.running or self.pending or self.unfinished)

    def line(self) -> str:
        budget = f" of {self.trials_budget}" if self.trials_budget else ""
        started = self.done + self.running + self.failed + self.unfinished
        states = f"{self.done} done, {self.running} running, {self.failed} failed, {self.pending} pending"
        if self.unfinished:
            states += f", {self.unfinished} unfinished"
        best = f"{self.best:.4f}" if math.isfinite(self.best) else "none yet"
        eta = "finished" if started >= (self.trials_budget or 0) and self.finished else (
            f"about {self.eta_s / 60:.1f} min left" if math.isfinite(self.eta_s) else "time left unknown (no trial finished yet)")
        return (f"{self.experiment} ({self.target}): {states}; best {self.metric} ({self.mode}) so far {best}; "
                f"{started}{budget} trials started, {self.trial_seconds:.0f} trial-s spent; {eta}")


def search_status(loc: Location, record: dict, rows: list[dict]) -> SearchStatus:
    budget = record.get("budget") or {}
    states = read_trial_states(loc, loc.listing(), []) or {}
    by_ray = [state.get("status") for state in states.values()]
    if states:
        done, running, failed = by_ray.count("TERMINATED"), by_ray.count("RUNNING"), by_ray.count("ERROR")
        queued, unfinished = by_ray.count("PENDING") + by_ray.count("PAUSED"), 0
    else:
        statuses = [row["status"] for row in rows]
        done = statuses.count("completed") + statuses.count("stopped")
        failed, running, queued, unfinished = statuses.count("failed"), 0, 0, statuses.count("unfinished")
    known = max(len(states), len(rows))
    pending = queued + max(0, int(budget.get("trials") or 0) - known)
    values = [row["best_val"] for row in rows if row["status"] != "failed" and math.isfinite(row["best_val"])]
    higher = record.get("mode") != "min"
    best = (max if higher else min)(values) if values else math.nan
    times = [row["time_s"] for row in rows if math.isfinite(row["time_s"])]
    finished = [row["time_s"] for row in rows if row["status"] in ("completed", "stopped") and math.isfinite(row["time_s"])]
    remaining = running + pending + unfinished
    concurrency = max(1, int(budget.get("concurrency") or 1))
    eta = (sum(finished) / len(finished)) * remaining / concurrency if finished else math.nan
    return SearchStatus(str(loc), record.get("target", "?"), record.get("metric", "?"), record.get("mode", "?"), budget.get("trials"),
                        done, running, failed, pending, unfinished, best, float(sum(times)), eta if remaining else 0.0)


def status(paths: list[str]) -> tuple[list[SearchStatus], list[str]]:
    """The status of every search under ``paths`` (searches or comparison roots), and the problems met."""
    experiments, problems = read_experiments(paths)
    return [search_status(loc, record["search"], rows) for loc, record, rows, *_ in experiments], problems
