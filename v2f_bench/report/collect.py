"""Collect finished (or still running) searches into tidy tables, offline, from experiment directories.

The report knows nothing of models: it reads only what a search leaves on disk (or in a storage
URI, through ``storage.Location`` like ``search.py`` writes it), without the Ray session that produced it.

What is read, and from where (text files only; nothing is unpickled)::

    <experiment>/v2f_search.json              the search record (search.py): target, seed, metric, mode,
                                              budget (max_epochs, cpus/gpus per trial), prepared key,
                                              voice encoder (None in records that predate it)
    <experiment>/experiment_state-*.json      Ray's snapshot of the trials (newest file): trial id, status
                                              (TERMINATED / ERROR / RUNNING / PENDING / PAUSED), config,
                                              trial directory name. Its pickled fields are ignored.
    <experiment>/<trial>/result.json          one JSON line per reported epoch (the metrics, time_total_s,
                                              node_id, checkpoint_dir_name, and the cumulative counters
                                              train_flops, train_steps, images_seen, cpu_s, gpu_s)
    <experiment>/<trial>/params.json          the trial's config
    <experiment>/<trial>/error.txt            Ray's failure log ("Failure # k (occurred at ...)" + the error)
    <experiment>/<trial>/diverged.txt         left by a trial whose loss became NaN (trainables.py)
    <experiment>/<trial>/checkpoint_*/test_metrics.json   test-split metrics of that checkpoint's model
    <experiment>/<trial>/checkpoint_*/ladder.json         a generator trial's evaluation points so far (the newest is read)
    <root>/compare.json                       the comparison record (compare.py), where present

Ray's own offline API (``tune.ResultGrid(tune.ExperimentAnalysis(path))``) works without a session
but unpickles the experiment state's cloudpickled fields and ``error.pkl``, needs every file to be
complete, and fails as a whole on a half-written directory; reading the text files ourselves lets a
report run on a search that is still writing, skipping exactly what is incomplete and saying so.

Trial status (column ``status``):

* ``completed``: ended without error after ``max_epochs`` epochs (a generator trial with ``budget_flops``: after
  its ``rungs`` evaluation points, ``models.family.reports_per_trial``);
* ``stopped``: ended without error before that (ASHA stopped it, or the trainable's own
  early stopping, e.g. the voice classifier's patience);
* ``failed``: errored (Ray's status ERROR; without a readable Ray state: an ``error.txt`` and fewer
  reports than that); ``error`` holds the failure's one-line reason;
* ``unfinished``: had not ended when the directory was read (a search still running, or one whose
  driver was killed; ``--resume`` continues it).

A trial's test values come from the checkpoint selected on validation: the checkpoint of its best
epoch by the record's metric when Ray kept it, else its latest checkpoint with a
``test_metrics.json``. ``Collection.best_trials`` picks each experiment's best trial by ``best_val``
among the trials that did not fail: a failed trial is counted, never selected.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from v2f_bench.artifacts import (COMPARE_RECORD, DIVERGED_FILE, RAY_ERROR_FILE, RAY_MARKERS, RAY_PARAMS_FILE, RAY_RESULT_FILE,
                                 RAY_STATE_PREFIX, SEARCH_RECORD, TEST_METRICS_FILE, UNRECORDED_FOLDER, LADDER_FILE)
from v2f_bench.compute import COMPUTE_KEYS
from v2f_bench.models.family import reports_per_trial
from v2f_bench.errors import UserError
from v2f_bench.storage import Location, holds_trial, read_trial_states, trial_folders
from v2f_bench.targets import role_of


STATUSES = ("completed", "stopped", "failed", "unfinished")
TRIAL_COLUMNS = [
    "experiment", "root", "target", "role", "seed", "trial_id", "trial_number", "status", "error", "failures", "diverged",
    "epochs", "metric", "mode", "best_val", "best_epoch", "final_val", "time_s", "node_id", "cpus", "gpus", "reference",
    "train_flops", "train_steps", "images_seen", "eval_flops", "total_flops", "cpu_s", "gpu_s", "sample_flops", "prepared", "voice_encoder", "test_epoch", "checkpoint", "experiment_path", "trial_path",
]
"""The fixed columns of ``Collection.trials``; ``config/<name>`` and ``test/<name>`` columns follow. ``reference``: 1 for a trial of a
reference family (``models.family.ReferenceFamily``, which reports it), else 0. ``sample_flops``: a generator trial's FLOPs
of generating one face (NaN for other trials and for experiments older than the count)."""
HELD_KEYS = {"cpu_s": "cpus", "gpu_s": "gpus"}
"""Resource-seconds a trial held (evaluation included), and the per-trial resource that multiplies ``time_s``
when the trial did not report them (experiments older than the counters)."""
EPOCH_KEYS = ["experiment", "root", "target", "role", "seed", "trial_id", "experiment_path", "training_iteration", "epoch", "time_total_s"]
"""The leading columns of ``Collection.epochs``; every numeric reported metric follows."""

_MAX_DEPTH = 3
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(\([\w.]*\))?: \S")


@dataclass
class Collection:
    """Every trial of the experiments read, as tidy frames, plus what was skipped and why."""

    trials: pd.DataFrame
    """One row per trial: ``TRIAL_COLUMNS``, then ``config/<name>`` and ``test/<name>`` columns.

    ``train_flops``, ``train_steps``, ``images_seen``: the trial's last reported cumulative counters (NaN when the
    trainable did not report them); ``cpu_s`` / ``gpu_s``: resource-seconds held, see ``held_seconds``."""
    epochs: pd.DataFrame
    """One row per (trial, reported epoch): ``EPOCH_KEYS`` then every numeric reported metric."""
    records: dict[str, dict] = field(default_factory=dict)
    """Experiment path -> {"search": its v2f_search.json, "compare": its root's compare.json or None}."""
    problems: list[str] = field(default_factory=list)
    """One line for everything skipped or doubtful, e.g. an empty directory or a half-written result line."""
    ladder: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per (generator trial, evaluation point), from the newest checkpoint's ``ladder.json``: the trial's keys,
    ``epoch``, ``train_flops``, ``train_steps``, the point's ``test/<metric>`` values and, for trials that evaluate at rungs
    of a FLOP budget, ``rung``, ``rung_fraction``, ``budget_spent`` and ``capped``; empty when no trial wrote one."""

    def best_trials(self) -> pd.DataFrame:
        """Each experiment's best trial by ``best_val`` (direction from its ``mode``), among trials that did not fail.

        Validation only: test columns ride along but never take part. Experiments with no such trial are left out
        (``problems`` already says why).
        """
        usable = self.trials[(self.trials["status"] != "failed") & self.trials["best_val"].notna()]
        rows = []
        for _, group in usable.groupby("experiment_path", sort=False):
            ascending = group["mode"].iloc[0] == "min"
            rows.append(group.sort_values("best_val", ascending=ascending, kind="stable").iloc[0])
        return pd.DataFrame(rows, columns=self.trials.columns).reset_index(drop=True)

    def counts(self) -> pd.DataFrame:
        """Per experiment: trials by status, and the budget used (trial seconds, CPU- and GPU-seconds, see ``held_seconds``)."""
        frame = self.trials.assign(cpu_s=held_seconds(self.trials, "cpu_s"), gpu_s=held_seconds(self.trials, "gpu_s"))
        rows = []
        for path, group in frame.groupby("experiment_path", sort=False):
            row = {key: group[key].iloc[0] for key in ("experiment", "root", "target", "role", "seed")}
            row["trials"] = len(group)
            row.update({status: int((group["status"] == status).sum()) for status in STATUSES})
            row.update(time_s=float(group["time_s"].sum()), cpu_s=float(group["cpu_s"].sum()), gpu_s=float(group["gpu_s"].sum()),
                       experiment_path=path)
            rows.append(row)
        return pd.DataFrame(rows)


def held_seconds(trials: pd.DataFrame, column: str) -> pd.Series:
    """Resource-seconds each trial held: ``column`` ("cpu_s" or "gpu_s") as reported, else ``time_s`` x resources per trial.

    The reported value (cumulative, evaluation included) wins where present; a trial without it (an older
    experiment, or a constructed frame) gets trial seconds x CPUs (GPUs) per trial. NaN when neither is known.
    """
    index = trials.index
    fallback = pd.to_numeric(trials.get("time_s", pd.Series(math.nan, index=index)), errors="coerce") * \
        pd.to_numeric(trials.get(HELD_KEYS[column], pd.Series(math.nan, index=index)), errors="coerce")
    reported = pd.to_numeric(trials.get(column, pd.Series(math.nan, index=index)), errors="coerce")
    return reported.where(reported.notna(), fallback).astype(float)


# ----------------------------------------------------------------------------- finding experiments


def _is_experiment(names: dict[str, bool]) -> bool:
    return SEARCH_RECORD in names or any(n.startswith(RAY_STATE_PREFIX) and n.endswith(".json") for n in names)


def _scan(paths: list[str]) -> tuple[list[tuple[Location, str]], list[str]]:
    """(experiment location, the argument it came from) for every experiment under ``paths``, and the problems met."""
    if not paths:
        raise UserError("give at least one experiment directory or comparison root")
    found: list[tuple[Location, str]] = []
    problems: list[str] = []
    for arg in paths:
        loc = Location.parse(arg)
        kind = loc.kind()
        if kind == "missing":
            raise UserError(f"{arg}: no such directory")
        if kind != "dir":
            raise UserError(f"{arg}: is a file; give an experiment directory or a comparison root")
        _walk(loc, str(arg), 0, found, problems)
    unique, seen = [], set()
    for loc, origin in found:
        if str(loc) not in seen:
            seen.add(str(loc))
            unique.append((loc, origin))
    return unique, problems


def _walk(loc: Location, origin: str, depth: int, found: list, problems: list[str], in_root: bool = False) -> int:
    """Add the experiments at or below ``loc`` to ``found``; report what looks like a search but cannot be read.

    Reported: the argument itself when it holds no experiment; an empty directory given as argument, directly
    under it, or inside a comparison root; a directory with Ray's files but no state or record yet. Other
    directories without experiments (data folders beside the searches) are passed over silently.
    """
    names = loc.listing()
    if _is_experiment(names):
        found.append((loc, origin))
        return 1
    if not names:
        if depth <= 1 or in_root:
            problems.append(f"{loc}: empty directory (a search that has not started, or the wrong path); skipped")
        return 0
    if any(n in RAY_MARKERS or n.startswith(("searcher-state-", "search_gen_state-")) for n in names):
        problems.append(f"{loc}: Ray files but no {SEARCH_RECORD} or {RAY_STATE_PREFIX}*.json yet (a search just starting?); skipped")
        return 0
    count = 0
    subdirs = sorted(name for name, is_dir in names.items() if is_dir and not name.startswith("."))
    compare = COMPARE_RECORD in names
    if depth < _MAX_DEPTH:
        for sub in subdirs:
            count += _walk(loc.child(sub), origin, depth + 1, found, problems, in_root=compare)
    if compare:
        record = loc.read_json(COMPARE_RECORD)
        if not isinstance(record, dict):
            problems.append(f"{loc}/{COMPARE_RECORD}: unreadable; its experiments are read without it")
        else:
            for search in record.get("searches", []):
                if isinstance(search, dict) and search.get("experiment") and search["experiment"] not in subdirs:
                    problems.append(f"{loc}: {COMPARE_RECORD} lists {search['experiment']} but that directory is missing")
    if count == 0 and (depth == 0 or in_root):
        problems.append(f"{loc}: no experiment directory in it (none holds {SEARCH_RECORD} or {RAY_STATE_PREFIX}*.json)")
    return count


def find_experiments(paths: list[str]) -> list[str]:
    """The Ray experiment directories under ``paths`` (each an experiment, a comparison root, or a folder of them).

    An experiment directory holds ``v2f_search.json`` and/or Ray's ``experiment_state-*.json``; any other
    directory is searched (up to three levels down). Paths may be local or storage URIs; a path that does
    not exist is a ``UserError``. The result keeps the order found (arguments in order, names sorted).
    """
    return [str(loc) for loc, _ in _scan(list(paths))[0]]


# ----------------------------------------------------------------------------- reading one experiment


def _read_results(text: str | None, where: str, problems: list[str]) -> list[dict]:
    """The reported rows of a result.json, one per training iteration (the last report wins after a restore)."""
    if not text:
        return []
    rows: dict[int, dict] = {}
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            partial = number == len(lines) and not text.endswith("\n")
            problems.append(f"{where}/{RAY_RESULT_FILE}: line {number} is {'incomplete (still being written?)' if partial else 'not JSON'}; skipped that epoch")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where}/{RAY_RESULT_FILE}: line {number} is not a result row; skipped")
            continue
        iteration = row.get("training_iteration")
        rows[int(iteration) if isinstance(iteration, (int, float)) else len(rows) + 1] = row
    return [rows[k] for k in sorted(rows)]


def _failure(text: str | None) -> tuple[str | None, int]:
    """(one-line reason of the last failure in an error.txt, number of failures logged)."""
    if not text:
        return None, 0
    text = _ANSI.sub("", text)
    failures = len(re.findall(r"^Failure # \d+", text, flags=re.M))
    block = re.split(r"^Failure # \d+.*$", text, flags=re.M)[-1]
    lines = [line.rstrip() for line in block.splitlines() if line.strip()]
    exception_lines = [line for line in lines if _EXCEPTION_LINE.match(line)]
    reason = exception_lines[-1] if exception_lines else (lines[0] if lines else "unknown error")
    return reason.strip()[:300], max(failures, 1)


def _first_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[0].strip()[:300] if lines else ""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _select_checkpoint(trial: Location, names: dict[str, bool], results: list[dict], metric: str, mode: str):
    """(checkpoint location, its test metrics, best epoch): the best epoch's checkpoint if kept, else the latest one with test metrics."""
    kept = sorted((n for n, is_dir in names.items() if is_dir and n.startswith("checkpoint_")), reverse=True)
    scored = [(row, row[metric]) for row in results if _is_number(row.get(metric)) and math.isfinite(row[metric])]
    best_epoch = None
    preferred: list[str] = []
    if scored:
        best = (max if mode == "max" else min)(value for _, value in scored)
        ties = [row for row, value in reversed(scored) if value == best]  # latest first
        with_checkpoint = [row for row in ties if row.get("checkpoint_dir_name") in kept]
        chosen = (with_checkpoint or ties)[0]
        best_epoch = int(chosen.get("training_iteration", 0)) or None
        preferred = [row["checkpoint_dir_name"] for row in with_checkpoint]
    for name in preferred[:1] + kept:
        test = trial.child(name).read_json(TEST_METRICS_FILE)
        if isinstance(test, dict):
            return trial.child(name), test, best_epoch
    return None, None, best_epoch


def _trial_status(state_status: str | None, epochs: int, max_epochs: int | None, error: bool, last: dict | None) -> str:
    reached = max_epochs is not None and epochs >= max_epochs
    if state_status == "ERROR":
        return "failed"
    if state_status == "TERMINATED":
        return "completed" if reached or max_epochs is None else "stopped"
    if state_status is None:  # no readable Ray state: judge by the trial's own files
        if error and not reached:
            return "failed"
        if reached:
            return "completed"
        return "stopped" if last and last.get("done") else "unfinished"
    return "completed" if reached and not error else "unfinished"


def _read_experiment(loc: Location, origin: str, compare: dict | None, problems: list[str]):
    """(record, trial rows, epoch rows) of one experiment, or None when it cannot be used."""
    names = loc.listing()
    text = loc.read_text(SEARCH_RECORD)
    if text is None:
        problems.append(f"{loc}: no {SEARCH_RECORD} (not a v2f-bench search, or its record was lost), so its metric and data are unknown; skipped")
        return None
    try:
        record = json.loads(text)
    except ValueError as exc:
        problems.append(f"{loc}/{SEARCH_RECORD}: unreadable ({exc}); skipped")
        return None
    missing = [key for key in ("target", "metric", "mode", "budget") if not isinstance(record, dict) or key not in record]
    if missing:
        problems.append(f"{loc}/{SEARCH_RECORD}: lacks {', '.join(missing)}; skipped")
        return None
    state = read_trial_states(loc, names, problems)
    budget = record.get("budget") or {}
    max_epochs = budget.get("max_epochs")
    metric, mode = record["metric"], record["mode"]
    base = {"experiment": loc.name, "root": origin, "target": record["target"], "role": role_of(record["target"], record.get("role")),
            "seed": record.get("seed"), "metric": metric, "mode": mode,
            "cpus": budget.get("cpus_per_trial"), "gpus": budget.get("gpus_per_trial"), "prepared": record.get("prepared"),
            "voice_encoder": record.get("voice_encoder"),
            "experiment_path": str(loc)}

    trial_dirs, starting = {}, []
    for name, listing in trial_folders(loc, names).items():
        if holds_trial(listing):
            trial_dirs[name] = listing
        elif name not in (state or {}):
            starting.append(name)  # Ray made the trial's folder after its last state snapshot and wrote nothing yet
    order = list(state or {}) + [name for name in trial_dirs if name not in (state or {})]
    for name in starting:
        problems.append(f"{loc}/{name}: a trial directory with no results yet (a trial just starting?); skipped")
    if names.get(UNRECORDED_FOLDER):
        for name in sorted(loc.child(UNRECORDED_FOLDER).listing()):
            problems.append(f"{loc}/{UNRECORDED_FOLDER}/{name}: a trial of the interrupted search that Ray's snapshot did not record; "
                            "the resumed search ran its place again, so it is kept but not counted")

    trial_rows, epochs_of, ladder_of = [], {}, {}
    for dirname in order:
        ray_view = (state or {}).get(dirname, {})
        where = f"{loc}/{dirname}"
        if dirname not in trial_dirs:
            problems.append(f"{where}: trial {ray_view.get('trial_id')} has no results yet ({(ray_view.get('status') or 'unknown').lower()}); skipped")
            continue
        trial = loc.child(dirname)
        listing = trial_dirs[dirname]
        results = _read_results(trial.read_text(RAY_RESULT_FILE), where, problems)
        error, failures = _failure(trial.read_text(RAY_ERROR_FILE) if RAY_ERROR_FILE in listing else None)
        diverged = _first_line(trial.read_text(DIVERGED_FILE)) if DIVERGED_FILE in listing else None
        last = results[-1] if results else None
        params = trial.read_json(RAY_PARAMS_FILE) if RAY_PARAMS_FILE in listing else None
        config = params if isinstance(params, dict) else ray_view.get("config") or (last or {}).get("config") or {}
        status = _trial_status(ray_view.get("status"), len(results), reports_per_trial(config, max_epochs), error is not None, last)
        trial_id = ray_view.get("trial_id") or (last or {}).get("trial_id") or _id_from_dirname(dirname)
        if not results and status != "failed":
            problems.append(f"{where}: trial {trial_id} has no results yet ({status}); skipped")
            continue
        if diverged and (error is None or "diverged" not in error):
            error = f"{error}; diverged: {diverged}" if error else f"diverged: {diverged}"
        checkpoint, test, best_epoch = _select_checkpoint(trial, listing, results, metric, mode)
        values = [row[metric] for row in results if _is_number(row.get(metric)) and math.isfinite(row[metric])]
        best_val = ((max if mode == "max" else min)(values)) if values else math.nan
        final = last.get(metric) if last else None
        row = {
            **base,
            "trial_id": trial_id,
            "trial_number": _trial_number(ray_view.get("tag"), dirname, trial_id),
            "status": status,
            "error": error if status == "failed" or diverged else None,
            "failures": failures,
            "diverged": diverged is not None,
            "epochs": len(results),
            "best_val": best_val,
            "best_epoch": best_epoch,
            "final_val": float(final) if _is_number(final) else math.nan,
            "time_s": float(last["time_total_s"]) if last and _is_number(last.get("time_total_s")) else math.nan,
            "node_id": (last or {}).get("node_id"),
            "reference": int(bool((last or {}).get("reference"))),
            **_counters(last),
            "sample_flops": float(last["sample_flops"]) if last and _is_number(last.get("sample_flops")) else math.nan,
            "test_epoch": _test_epoch(test, checkpoint, results),
            "checkpoint": str(checkpoint) if checkpoint else None,
            "trial_path": str(trial),
        }
        row.update({f"config/{k}": v for k, v in _flat(config).items()})
        row.update({f"test/{k.removeprefix('test_')}": v for k, v in (test or {}).items() if k != "epoch_of_model"})
        trial_rows.append(row)
        common = {key: base[key] for key in ("experiment", "root", "target", "role", "seed")} | {"trial_id": trial_id, "experiment_path": str(loc)}
        epochs_of[trial_id] = [common | {k: v for k, v in result.items() if _is_number(v)} for result in results]
        ladder_of[trial_id] = [common | point for point in _ladder(trial, listing)]

    trial_rows.sort(key=lambda r: (r["trial_number"] is None, r["trial_number"] or 0))
    epoch_rows = [row for trial in trial_rows for row in epochs_of[trial["trial_id"]]]
    ladder_rows = [row for trial in trial_rows for row in ladder_of[trial["trial_id"]]]
    if trial_rows and all(r["status"] == "failed" for r in trial_rows):
        problems.append(f"{loc}: all {len(trial_rows)} trials failed (first reason: {trial_rows[0]['error']}); kept as failed rows")
    elif not trial_rows:
        problems.append(f"{loc}: no trial has reported results yet; skipped")
    return {"search": record, "compare": compare}, trial_rows, epoch_rows, ladder_rows


def _ladder(trial: Location, listing: dict[str, bool]) -> list[dict]:
    """The evaluation points of a generator trial from its newest checkpoint's ``ladder.json`` (each point's rung,
    FLOPs spent and test values, as ``test/<metric>``); none for other trials."""
    for name in sorted((n for n, is_dir in listing.items() if is_dir and n.startswith("checkpoint_")), reverse=True):
        ladder = trial.child(name).read_json(LADDER_FILE)
        if isinstance(ladder, dict) and isinstance(ladder.get("points"), list):
            return [{**{k: v for k, v in point.items() if _is_number(v)},
                     **{f"test/{k.removeprefix('test_')}": v for k, v in (point.get("test") or {}).items() if k != "epoch_of_model"}}
                    for point in ladder["points"] if isinstance(point, dict)]
    return []


def _counters(last: dict | None) -> dict:
    """The cumulative compute counters (``compute.COMPUTE_KEYS``: every trial reports them at each evaluation point) of a trial's
    last reported row; NaN where absent (experiments older than the counters)."""
    return {key: last[key] if last and _is_number(last.get(key)) else math.nan for key in COMPUTE_KEYS}


def _id_from_dirname(dirname: str) -> str:
    match = re.search(r"_([0-9a-f]{5,})_\d+_", dirname)
    return match.group(1) if match else dirname


def _trial_number(tag: str | None, dirname: str, trial_id: str) -> int | None:
    if tag and re.match(r"\d+", tag):
        return int(re.match(r"\d+", tag).group())
    match = re.search(rf"_{re.escape(str(trial_id))}_(\d+)_", dirname)
    return int(match.group(1)) if match else None


def _test_epoch(test: dict | None, checkpoint: Location | None, results: list[dict]) -> int | None:
    if not test:
        return None
    if _is_number(test.get("epoch_of_model")):
        return int(test["epoch_of_model"])
    for row in results:
        if checkpoint is not None and row.get("checkpoint_dir_name") == checkpoint.name:
            return int(row.get("epoch", row.get("training_iteration")))
    return None


# ----------------------------------------------------------------------------- collect


def read_experiments(paths: list[str]) -> tuple[list[tuple[Location, dict, list[dict], list[dict], list[dict]]], list[str]]:
    """(experiment, records, trial rows, epoch rows, ladder rows) for every readable experiment under ``paths``, and the problems met.

    Experiments with no trial rows yet are kept (a search just starting), so ``status`` can count them.
    """
    experiments, problems = _scan([str(p) for p in paths])
    compares: dict[str, dict | None] = {}
    found = []
    for loc, origin in experiments:
        parent = loc.parent
        if str(parent) not in compares:
            compares[str(parent)] = parent.read_json(COMPARE_RECORD)
        outcome = _read_experiment(loc, origin, compares[str(parent)], problems)
        if outcome is not None:
            found.append((loc, *outcome))
    return found, problems


def collect(paths: list[str] | str, allow_mixed: bool = False) -> Collection:
    """Read every experiment under ``paths`` (see ``find_experiments``) into a ``Collection``.

    One-line ``UserError`` for: a path that does not exist; nothing usable found (with the first problem);
    experiments built from different prepared datasets (their ``prepared`` keys differ) unless
    ``allow_mixed``. Everything else that is skipped or doubtful is listed in ``Collection.problems``.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    experiments, problems = read_experiments(paths)
    records, trial_rows, epoch_rows, ladder_rows = {}, [], [], []
    for loc, record, trials, epochs, ladder in experiments:
        if trials:
            records[str(loc)] = record
            trial_rows += trials
            epoch_rows += epochs
            ladder_rows += ladder
    if not trial_rows:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        first = problems[0] if problems else "no experiment directory found"
        raise UserError(f"nothing usable in {', '.join(map(str, paths))}: {first}{more}")
    _check_prepared(records, allow_mixed, problems)
    return Collection(_trials_frame(trial_rows), _epochs_frame(epoch_rows), records, problems, pd.DataFrame(ladder_rows))


def _check_prepared(records: dict[str, dict], allow_mixed: bool, problems: list[str]) -> None:
    by_key: dict[str, list[str]] = {}
    for path, record in records.items():
        by_key.setdefault(str(record["search"].get("prepared") or "unknown"), []).append(path)
    if len(by_key) < 2:
        return
    listed = "; ".join(f"{key[:12]}: {', '.join(paths[:3])}{f' and {len(paths) - 3} more' if len(paths) > 3 else ''}" for key, paths in by_key.items())
    if not allow_mixed:
        raise UserError(f"the experiments were built from different prepared datasets ({listed}); report them separately, "
                        "or pass allow_mixed=True (--allow-mixed) to combine them anyway")
    problems.append(f"combining experiments built from different prepared datasets (allowed): {listed}")


def _trials_frame(rows: list[dict]) -> pd.DataFrame:
    extra = []
    for row in rows:
        extra += [k for k in row if k not in TRIAL_COLUMNS and k not in extra]
    config = [k for k in extra if k.startswith("config/")]
    test = sorted(k for k in extra if k.startswith("test/"))
    frame = pd.DataFrame(rows, columns=TRIAL_COLUMNS + config + test)
    for column in ("trial_number", "best_epoch", "test_epoch"):
        frame[column] = frame[column].astype("Int64")
    for column in HELD_KEYS:
        frame[column] = held_seconds(frame, column)
    return frame


def _epochs_frame(rows: list[dict]) -> pd.DataFrame:
    columns = [k for k in EPOCH_KEYS if any(k in row for row in rows)]
    for row in rows:
        columns += [k for k in row if k not in columns]
    return pd.DataFrame(rows, columns=columns)
