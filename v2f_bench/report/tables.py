"""The paper's tables with our numbers beside the published ones, from the tidy trials frame.

Pure functions over ``Collection.trials`` (see ``collect.py``): one row per trial with ``target``,
``seed``, ``status``, ``metric``, ``mode``, ``best_val``, ``time_s``, ``cpus``, ``gpus`` and the
``test/<metric>`` values of the checkpoint selected on validation. Nothing here reads directories.

How a family's row is made:

1. ``best_per_search``: for every search (one ``target`` and ``seed``), the trial with the best
   ``best_val`` in the direction of its record's ``mode``, among the trials that did not fail. This
   is selection on validation only; the selected trial's ``test/...`` values ride along. A failed
   trial is counted (``counts_table``) but never selected, whatever value it reported.
2. ``table_one`` / ``table_two`` / ``table_identity``: per family, the mean of those test values
   over seeds with the half-width of a 95 % Student-t interval (``budget.seed_summary``); with one
   seed there is no interval (NaN, rendered "n=1"). The paper's published value, where one exists,
   sits in the adjacent column. Which metrics go in which table, and which direction is better,
   come from ``metrics.METRICS`` only.
3. ``render`` formats a table as Markdown (GitHub pipes), LaTeX, CSV or HTML, with the trial counts
   and budget used per family (``counts_table``) and the notes (selection rule, scales) beneath.
   ``write_tables`` writes all three tables in all four formats plus ``trials.csv`` (and parquet).

Scales: the paper gives Table I accuracy in percent; our ``verification_accuracy`` (like every
metric whose ``METRICS`` scale is a "fraction in [0, 1]") is a fraction, shown in the tables
multiplied by 100. Table II keeps the paper's scales, which are also ours: MAE and MSE on [0, 1],
SNR and PSNR in dB, PAMSE on the 0-255 scale, SSIM in [-1, 1].
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from v2f_bench.errors import UserError
from v2f_bench.metrics import METRICS
from v2f_bench.report.budget import paired_differences, seed_summary
from v2f_bench.targets import ROLES, role_of
from v2f_bench.report.collect import held_seconds
from v2f_bench.report.training_status import not_trained_note, training_status

__all__ = [
    "PAPER",
    "PAPER_JUDGE",
    "PAPER_DECIMALS",
    "FAMILY_ORDER",
    "TABLES",
    "FORMATS",
    "best_per_search",
    "families",
    "table_one",
    "table_two",
    "table_identity",
    "table_distribution",
    "counts_table",
    "counts_line",
    "judge_summary",
    "per_seed_values",
    "paired_comparisons",
    "sample_note",
    "render",
    "write_tables",
]

# --------------------------------------------------------------------------- the paper's numbers

PAPER: dict[str, dict[str, float]] = {
    # Agarwal et al., Table I ("Face classification accuracy"): percent of generated faces that the
    # judge verifies as the voice's identity (d <= tau = 0.77). The authors' notebooks count
    # 305/420, 286/420 and 355/420 test pairs. Our verification_accuracy is a fraction: x 100.
    # Agarwal et al., Table II ("Image quality metrics"), as published: MAE and MSE on [0, 1],
    # SNR and PSNR in dB, PAMSE on the 0-255 scale, SSIM in [-1, 1] (see REFERENCE section 1).
    "vae": {"verification_accuracy": 72.61,
            "mae": 0.049, "mse": 0.011, "snr": 17.857, "psnr": 28.276, "pamse": 575.408, "ssim": 0.866},
    "cgan": {"verification_accuracy": 68.09,
             "mae": 0.215, "mse": 0.075, "snr": 1.125, "psnr": 11.543, "pamse": 3964.294, "ssim": 0.717},
    "rcgan": {"verification_accuracy": 84.52,
              "mae": 0.112, "mse": 0.025, "snr": 6.221, "psnr": 16.639, "pamse": 1055.896, "ssim": 0.703},
}
"""Published values per family, in the paper's units (Table I accuracy in percent; Table II as printed)."""

PAPER_JUDGE: dict[str, float] = {"verification_accuracy": 93.9, "tau": 0.77}
"""The paper's face verification on real faces (Section III-B): 93.9 % (percent) at the threshold tau = 0.77."""

PAPER_DECIMALS: dict[str, int] = {"verification_accuracy": 2, "mae": 3, "mse": 3, "snr": 3, "psnr": 3, "pamse": 3, "ssim": 3}
"""Decimals the paper prints, so its values are shown exactly as published (72.61, 0.049, 575.408)."""

FAMILY_ORDER = ("vae", "cgan", "rcgan")
"""The paper's families, shown first in this order; any other family follows alphabetically."""

def roles(frame: pd.DataFrame) -> pd.Series:
    """Each row's target role (``targets.ROLES``): the collected ``role`` column, else derived from ``target``
    (``targets.role_of``, for frames written before roles were recorded)."""
    if "role" in frame:
        return frame["role"].where(frame["role"].isin(ROLES), frame["target"].map(role_of))
    return frame["target"].map(role_of)


def generator_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of generator-family searches (not the voice or judge searches)."""
    return frame[roles(frame) == "generator"]

TABLES: dict[str, tuple[str, str]] = {
    "table1": ("I", "Table I: face verification accuracy of generated faces (test split)"),
    "table2": ("II", "Table II: image quality of generated faces against the target face (test split)"),
    "table_identity": ("identity", "Identity metrics beyond the paper: 1:2 matching, Recall@K, cosine (test split)"),
    "table_distribution": ("distribution", "Distribution metrics: generated faces against the real test photos in the judge's embedding "
                                           "space (FD, KID, precision, recall, density, coverage)"),
}
"""Output name -> (``Metric.table`` value, title)."""

FORMATS: dict[str, str] = {"markdown": "md", "latex": "tex", "csv": "csv", "html": "html"}
"""``render`` formats and the file extension ``write_tables`` gives each."""

LABELS: dict[str, str] = {
    "verification_accuracy": "accuracy", "mae": "MAE", "mse": "MSE", "snr": "SNR (dB)", "psnr": "PSNR (dB)",
    "pamse": "PAMSE", "ssim": "SSIM", "matching_1to2": "1:2 matching", "top1": "top-1", "mean_cosine": "cosine",
    **{f"gallery_recall@{k}": f"Recall@{k}, G drawn" for k in (1, 2, 5, 10)},
    "frechet_distance": "FD", "kernel_distance": "KID",
}
"""Column labels; a metric not listed is shown by its name. A fraction metric gets " (%)" appended."""

SPARSE_TABLES = ("identity", "distribution")
"""Tables whose metrics a family may not report (Recall@5 with fewer than 5 identities, PRDC on a tiny set): a column no
family reported is left out and named in the notes."""

LEVEL = 0.95
SELECTABLE = ("completed", "stopped", "unfinished")
"""Statuses a trial may have to be selected: anything but failed (as ``Collection.best_trials``)."""

COUNT_COLUMNS = ["seeds", "trials", "completed", "stopped", "failed", "unfinished", "time_s", "cpu_s", "gpu_s", "cpus", "gpus"]
COUNT_HEADERS = {
    "seeds": "searches (seeds)", "trials": "trials", "completed": "completed", "stopped": "stopped early",
    "failed": "failed", "unfinished": "unfinished", "time_s": "trial time (s)", "cpu_s": "CPU-s", "gpu_s": "GPU-s",
    "cpus": "CPUs/trial", "gpus": "GPUs/trial",
}
_REQUIRED = ("target", "seed", "status", "best_val", "mode")


# --------------------------------------------------------------------------- metric helpers


def is_fraction(metric: str) -> bool:
    """Whether the metric is a fraction in [0, 1] (its ``METRICS`` scale says so): tables show it in percent."""
    return METRICS[metric].scale.startswith("fraction")


def display_factor(metric: str) -> float:
    """What a stored value is multiplied by in the tables: 100 for fractions, else 1 (the paper's scales are ours)."""
    return 100.0 if is_fraction(metric) else 1.0


def label(metric: str) -> str:
    """The column label, with its unit: "accuracy (%)", "MAE", "PSNR (dB)"."""
    text = LABELS.get(metric, metric)
    return f"{text} (%)" if is_fraction(metric) else text


def _arrow(metric: str, latex: bool = False) -> str:
    up = METRICS[metric].higher_is_better
    if latex:
        return r"$\uparrow$" if up else r"$\downarrow$"
    return "↑" if up else "↓"


def table_metrics(table: str) -> list[str]:
    """The metrics of one paper table ("I", "II" or "identity"), in ``METRICS`` order."""
    return [name for name, m in METRICS.items() if m.table == table]


# --------------------------------------------------------------------------- selection


def _check_columns(trials: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in trials.columns]
    if missing:
        raise ValueError(f"the trials frame has no column(s) {missing}; build it with report.collect")


def _family_key(name: str) -> tuple:
    return (0, FAMILY_ORDER.index(name), "") if name in FAMILY_ORDER else (1, 0, str(name))


def _ordered(names: Iterable) -> list[str]:
    return sorted({str(n) for n in names}, key=_family_key)


def sorts_ascending(mode, metric) -> bool:
    """Sort direction of ``best_val``: from the record's mode, else from METRICS by the metric's name."""
    if mode in ("max", "min"):
        return mode == "min"
    name = str(metric or "").removeprefix("val_").removeprefix("test_")
    if name in METRICS:
        return not METRICS[name].higher_is_better
    raise UserError(f"cannot tell whether {metric!r} is better high or low: the search record has mode {mode!r}")


def best_per_search(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per search (target, seed): its best trial on validation, with all its columns (test values included).

    Candidates are the trials that did not fail and have a finite ``best_val``; the best is the highest
    ``best_val`` when the search's ``mode`` is "max", the lowest when "min" (ties: the first in frame order,
    i.e. the lower trial number). Test values never take part in the choice. Two columns are added:
    ``search_trials`` and ``search_failed``, the number of trials and failed trials of that search.
    Searches without a candidate are left out (``counts_table`` still counts them). Rows are ordered by
    family (vae, cgan, rcgan, then alphabetical) and seed.
    """
    _check_columns(trials)
    rows = []
    for (target, seed), group in trials.groupby(["target", "seed"], sort=False, dropna=False):
        modes = group["mode"].dropna().unique()
        if len(modes) > 1:
            raise UserError(f"{target} seed {seed}: searches with different modes ({', '.join(map(str, modes))}) share one target and seed; "
                            "report them separately")
        usable = group[group["status"].isin(SELECTABLE) & np.isfinite(pd.to_numeric(group["best_val"], errors="coerce"))]
        if usable.empty:
            continue
        metric = group["metric"].iloc[0] if "metric" in group else None
        ascending = sorts_ascending(modes[0] if len(modes) else None, metric)
        best = usable.sort_values("best_val", ascending=ascending, kind="stable").iloc[0].copy()
        best["search_trials"] = len(group)
        best["search_failed"] = int((group["status"] == "failed").sum())
        rows.append(best)
    columns = list(trials.columns) + ["search_trials", "search_failed"]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows, columns=columns)
    out["_key"] = [_family_key(t) for t in out["target"]]
    out = out.sort_values(["_key", "seed"], kind="stable", na_position="last").drop(columns="_key")
    return out.reset_index(drop=True)


def families(trials: pd.DataFrame) -> list[str]:
    """The generator families in the trials (every target but voice and judge), paper families first."""
    _check_columns(trials)
    return _ordered(generator_rows(trials)["target"].dropna().unique())


def _test_column(metric: str) -> str:
    return f"test/{metric}"


def _has_test_values(frame: pd.DataFrame) -> pd.Series:
    columns = [_test_column(m) for m in METRICS if _test_column(m) in frame.columns]
    if not columns or frame.empty:
        return pd.Series(False, index=frame.index)
    return frame[columns].apply(pd.to_numeric, errors="coerce").notna().any(axis=1)


def _selected(trials: pd.DataFrame) -> pd.DataFrame:
    """The best trial of every generator family's search; a one-line UserError when no family has test values."""
    names = families(trials)
    if not names:
        targets = ", ".join(map(str, trials["target"].dropna().unique())) or "none"
        raise UserError(f"no generator family in the trials (targets: {targets}); Tables I and II need vae, cgan, rcgan or another family")
    fam_trials = trials[trials["target"].isin(names)]
    best = best_per_search(fam_trials)
    if best.empty or not _has_test_values(best).any():
        parts = []
        for name in names:
            group = fam_trials[fam_trials["target"] == name]
            parts.append(f"{name} {int((group['status'] == 'failed').sum())} of {len(group)} failed")
        n_failed = int((fam_trials["status"] == "failed").sum())
        if n_failed == len(fam_trials):
            raise UserError(f"every trial failed ({'; '.join(parts)}), so there is no result to tabulate; see the error column of trials.csv")
        raise UserError(f"no family has a finished trial with test values ({'; '.join(parts)}); the rest are unfinished or "
                        f"their checkpoints lack test_metrics.json")
    return best


# --------------------------------------------------------------------------- counts


def counts_table(trials: pd.DataFrame, names: Iterable[str] | None = None) -> pd.DataFrame:
    """Per family: searches, trials by status, and the budget used.

    Columns (index ``family``): ``seeds`` (number of searches), ``trials``, ``completed``, ``stopped``
    (stopped early), ``failed``, ``unfinished``, ``time_s`` (summed trial time in seconds), ``cpu_s`` and
    ``gpu_s`` (summed resource-seconds held, ``collect.held_seconds``: as reported, else trial time x CPUs / GPUs
    per trial), and ``cpus`` / ``gpus`` per trial (a number, or the
    distinct values joined by "/" when searches differ). ``names`` defaults to every generator family.
    """
    _check_columns(trials)
    names = families(trials) if names is None else list(names)
    rows = []
    for name in names:
        group = trials[trials["target"] == name]
        time = pd.to_numeric(group.get("time_s", pd.Series(dtype=float)), errors="coerce")
        cpus = pd.to_numeric(group.get("cpus", pd.Series(np.nan, index=group.index)), errors="coerce")
        gpus = pd.to_numeric(group.get("gpus", pd.Series(np.nan, index=group.index)), errors="coerce")
        row = {"family": name, "seeds": int(group[["seed"]].drop_duplicates().shape[0]), "trials": len(group)}
        row.update({s: int((group["status"] == s).sum()) for s in ("completed", "stopped", "failed", "unfinished")})
        row.update(time_s=float(time.sum()), cpu_s=float(held_seconds(group, "cpu_s").sum()), gpu_s=float(held_seconds(group, "gpu_s").sum()),
                   cpus=_distinct(cpus), gpus=_distinct(gpus))
        rows.append(row)
    return pd.DataFrame(rows, columns=["family"] + COUNT_COLUMNS).set_index("family")


def _distinct(values: pd.Series):
    found = sorted({float(v) for v in values.dropna()})
    if not found:
        return math.nan
    if len(found) == 1:
        return found[0]
    return "/".join(_plain(v) for v in found)


def _plain(value) -> str:
    """1.0 -> "1", 0.5 -> "0.5", NaN -> "?", text unchanged."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    return f"{float(value):g}"


def counts_line(trials: pd.DataFrame, names: Iterable[str] | None = None) -> str:
    """The counts in one line per family, e.g.

    ``vae: 9 trials over 3 seeds (7 completed, 1 stopped early, 1 failed); 412 s of trial time, 1 CPU + 0 GPU per trial``
    """
    table = counts_table(trials, names)
    return "\n".join(_count_text(name, row) for name, row in table.iterrows())


def _count_text(name: str, row: pd.Series) -> str:
    parts = [f"{int(row['completed'])} completed", f"{int(row['stopped'])} stopped early", f"{int(row['failed'])} failed"]
    if row["unfinished"]:
        parts.append(f"{int(row['unfinished'])} unfinished")
    seeds = int(row["seeds"])
    return (f"{name}: {int(row['trials'])} trials over {seeds} seed{'s' if seeds != 1 else ''} ({', '.join(parts)}); "
            f"{row['time_s']:.0f} s of trial time, {_plain(row['cpus'])} CPU + {_plain(row['gpus'])} GPU per trial")


# --------------------------------------------------------------------------- judge


def judge_summary(trials: pd.DataFrame) -> dict | None:
    """Our judge's test verification beside the paper's 93.9 % at tau 0.77, or None without judge searches.

    Per judge search the trial best on validation (``best_per_search``); its ``test/accuracy`` (a fraction,
    here x 100) and ``test/tau`` averaged over seeds. Returns {"accuracy", "tau", "n"}.
    """
    _check_columns(trials)
    best = best_per_search(trials[roles(trials) == "judge"])
    if best.empty or "test/accuracy" not in best:
        return None
    acc = pd.to_numeric(best["test/accuracy"], errors="coerce").dropna()
    if acc.empty:
        return None
    tau = pd.to_numeric(best.get("test/tau", pd.Series(dtype=float)), errors="coerce").dropna()
    return {"accuracy": float(acc.mean() * 100.0), "tau": float(tau.mean()) if len(tau) else math.nan, "n": int(len(acc))}


# --------------------------------------------------------------------------- tables


def _family_table(trials: pd.DataFrame, table: str, name: str) -> pd.DataFrame:
    """The numeric table of one paper table; see ``table_one``."""
    best = _selected(trials)
    metrics = table_metrics(table)
    with_paper = [m for m in metrics if any(m in values for values in PAPER.values())]
    rows_for = families(trials)
    if with_paper:  # the paper's layout: its three families always have a row
        rows_for = _ordered(list(rows_for) + list(FAMILY_ORDER))
    columns: dict[str, list] = {"seeds": []}
    for m in metrics:
        for suffix in ("", ":half", ":low", ":high", ":n", ":decisions", ":paper", ":best", ":gallery", ":chance"):
            if suffix == ":paper" and m not in with_paper or suffix in (":gallery", ":chance") and METRICS[m].recall_k is None:
                continue
            columns[m + suffix] = []
    for fam in rows_for:
        picked = best[best["target"] == fam]
        columns["seeds"].append(len(picked))
        for m in metrics:
            col = _test_column(m)
            values = pd.to_numeric(picked[col], errors="coerce").dropna().to_numpy() if col in picked else np.array([])
            values = values * display_factor(m)
            if values.size:
                s = seed_summary(values, LEVEL)
                mean, low, high, n = s["mean"], s["low"], s["high"], s["n"]
            else:
                mean = low = high = math.nan
                n = 0
            columns[m].append(mean)
            columns[m + ":half"].append((high - low) / 2.0)
            columns[m + ":low"].append(low)
            columns[m + ":high"].append(high)
            columns[m + ":n"].append(n)
            columns[m + ":decisions"].append(_fewest_decisions(picked, col))
            if m in with_paper:
                columns[m + ":paper"].append(PAPER.get(fam, {}).get(m, math.nan))
            if METRICS[m].recall_k is not None:
                size = _gallery_of(picked, col, METRICS[m].gallery)
                columns[m + ":gallery"].append(size)
                columns[m + ":chance"].append(METRICS[m].chance(size) * display_factor(m))
            columns[m + ":best"].append(False)
    frame = pd.DataFrame(columns, index=pd.Index(rows_for, name="family"))
    status = training_status(best, list(rows_for), LEVEL).set_index("family")["status"]
    frame["status"] = [status[fam] if frame.loc[fam, "seeds"] > 0 else "not run" for fam in frame.index]
    for m in metrics:
        means = frame[m]
        if means.notna().any():
            target = means.max() if METRICS[m].higher_is_better else means.min()
            frame[m + ":best"] = means == target
    shown = [m for m in metrics if table not in SPARSE_TABLES or frame[m + ":n"].sum() > 0]
    if table in SPARSE_TABLES:
        frame = frame[["seeds"] + [c for c in frame.columns if c.split(":")[0] in shown] + ["status"]]
    frame.attrs.update(
        name=name,
        table=table,
        title=TABLES[name][1],
        metrics=shown,
        per_seed=per_seed_values(best[best["target"].isin(rows_for)], shown).to_dict("records"),
        counts=counts_table(trials).reset_index().to_dict("records"),
        notes=_notes(trials, best, table, shown, frame),
    )
    untrained = not_trained_note(training_status(best, [f for f in rows_for if frame.loc[f, "seeds"] > 0], LEVEL))
    if untrained:
        frame.attrs["notes"].insert(0, untrained)
    return frame


DECISIONS, UNIT = "test/decisions", "test/unit"
"""Columns of the selected checkpoint's ``test_metrics.json``: how many test decisions (generated test faces) each of
its Table I / Table II / identity metrics was computed from, and what one decision is ("window" or "clip")."""


def _fewest_decisions(picked: pd.DataFrame, column: str) -> float:
    """The smallest number of test decisions behind ``column`` over the seeds that have a value of it (NaN: not recorded)."""
    if column not in picked or DECISIONS not in picked:
        return math.nan
    decisions = pd.to_numeric(picked.loc[pd.to_numeric(picked[column], errors="coerce").notna(), DECISIONS], errors="coerce").dropna()
    return float(decisions.min()) if len(decisions) else math.nan


def _gallery_of(picked: pd.DataFrame, column: str, key: str | None) -> float:
    """G behind a Recall@K column: the smallest ``test/<key>`` over the seeds with a value (NaN: not recorded).

    The largest chance level K / G is the one stated, so a seed with a smaller gallery is never flattered."""
    gallery = f"test/{key}"
    if key is None or column not in picked or gallery not in picked:
        return math.nan
    sizes = pd.to_numeric(picked.loc[pd.to_numeric(picked[column], errors="coerce").notna(), gallery], errors="coerce").dropna()
    return float(sizes.min()) if len(sizes) else math.nan


def _gallery_note(best: pd.DataFrame, shown: list[str]) -> str | None:
    """How the Recall@K galleries were formed, with G, R, the cap and the chance levels, from the selected trials."""
    def values(key: str) -> list[int]:
        column = f"test/{key}"
        return sorted({int(v) for v in pd.to_numeric(best[column], errors="coerce").dropna()}) if column in best else []

    def text(numbers: list[int]) -> str:
        return "/".join(str(n) for n in numbers) if numbers else "not recorded"

    parts = []
    whole = [m for m in shown if METRICS[m].gallery == "gallery_identities"]
    drawn = [m for m in shown if METRICS[m].gallery == "gallery_size"]
    identities = values("gallery_identities")
    if whole:
        parts.append(f"{', '.join(label(m) for m in whole)}: ranked among all C = {text(identities)} test identities, chance K/C")
    if drawn:
        sizes, draws, requested = values("gallery_size"), values("gallery_draws"), values("gallery_requested")
        capped = f" (requested {text(requested)}, capped at the C = {text(identities)} test identities)" if requested and sizes and max(sizes) < max(requested) else ""
        many = "gallery" if draws == [1] else "galleries"
        whole_split = " (G = C: the one gallery is the whole split, so these equal the ranking among all C)" if draws == [1] else ""
        parts.append(f"Recall@K, G drawn: for every test face, {text(draws)} {many} of G = {text(sizes)}{capped} identities{whole_split}, its own "
                     "identity plus G-1 distractors drawn uniformly without replacement from the other test identities (seed 0), "
                     "averaged over draws, then over faces; chance K/G; K >= G not reported")
    if not parts:
        return None
    return "Recall@K: " + "; ".join(parts) + ". The chance column beside each Recall@K is K/G in percent, with G."


def per_seed_values(best: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per (family, seed, metric) of the selected trials: the test value on the table's scale and its n.

    Columns: ``family``, ``seed``, ``metric``, ``value`` (test value x ``display_factor``), ``decisions`` (test
    decisions it was computed from, NaN when not recorded), ``unit`` ("window" / "clip" or None), ``trial_id``.
    These are the values each table's mean and interval are computed from.
    """
    rows = []
    for _, row in best.iterrows():
        for m in metrics:
            value = pd.to_numeric(pd.Series([row.get(_test_column(m))]), errors="coerce").iloc[0]
            if pd.notna(value):
                decisions = pd.to_numeric(pd.Series([row.get(DECISIONS)]), errors="coerce").iloc[0]
                unit = row.get(UNIT)
                rows.append({"family": row["target"], "seed": row["seed"], "metric": m, "value": float(value) * display_factor(m),
                             "decisions": decisions, "unit": unit if isinstance(unit, str) else None, "trial_id": row.get("trial_id")})
    return pd.DataFrame(rows, columns=["family", "seed", "metric", "value", "decisions", "unit", "trial_id"])


def sample_note(per_seed: pd.DataFrame, seeds: dict[str, int]) -> str:
    """The table's n in one line: test decisions per seed with their unit, seeds per family, and the interval used.

    E.g. "n = 612 test windows per seed, 5 seeds; intervals: 95 % Student-t over training seeds". Decisions that
    differ across seeds are given as a range; seeds that differ across families are listed per family.
    """
    decisions = per_seed["decisions"].dropna()
    units = sorted({str(u) for u in per_seed["unit"].dropna()})
    unit = f"test {'/'.join(units)}s" if units else "test decisions"
    if decisions.empty:
        n_text = "n = not recorded (the checkpoints predate test_decisions)"
    elif decisions.min() == decisions.max():
        n_text = f"n = {int(decisions.min())} {unit} per seed"
    else:
        n_text = f"n = {int(decisions.min())}-{int(decisions.max())} {unit} per seed"
    counts = sorted(set(seeds.values()))
    seeds_text = (f"{counts[0]} seed{'s' if counts[0] != 1 else ''}" if len(counts) == 1
                  else ", ".join(f"{fam} {k} seed{'s' if k != 1 else ''}" for fam, k in seeds.items()))
    return f"{n_text}, {seeds_text}; intervals: {100 * LEVEL:.0f} % Student-t over training seeds (none with one seed)."


def table_one(trials: pd.DataFrame) -> pd.DataFrame:
    """Table I: verification accuracy (%) of generated faces per family, ours beside the paper's.

    Index ``family`` (vae, cgan, rcgan always, then any other family alphabetically). For each metric m of
    Table I in ``METRICS``: ``m`` the mean over seeds of the selected trials' test values (in %),
    ``m:half`` the half-width of the 95 % t-interval (NaN with one seed), ``m:low`` / ``m:high`` its
    bounds, ``m:n`` the number of seeds with a value, ``m:decisions`` the number of test decisions (generated test
    faces) per seed behind it (the fewest over seeds; NaN when not recorded), ``m:paper`` the published value, ``m:best`` whether
    this family has the best mean (direction from ``METRICS``); then ``seeds`` (searches with a selected
    trial). ``attrs`` holds the title, metrics, notes and per-family counts that ``render`` prints, and ``per_seed``
    (``per_seed_values`` as records: every seed's value and decisions, written to ``<name>_seeds.csv``).
    UserError when no family has a finished trial with test values.
    """
    return _family_table(trials, "I", "table1")


def table_two(trials: pd.DataFrame) -> pd.DataFrame:
    """Table II: MAE, MSE, SNR, PSNR, PAMSE, SSIM per family on the paper's scales; columns as ``table_one``."""
    return _family_table(trials, "II", "table2")


def table_distribution(trials: pd.DataFrame) -> pd.DataFrame:
    """The distribution metrics (``metrics.DISTRIBUTION``): the generated test faces as a set against the real test photos,
    in the judge's embedding space; columns as ``table_identity``, a metric no family reported left out."""
    return _family_table(trials, "distribution", "table_distribution")


def _distribution_note(picked: pd.DataFrame) -> str:
    """What the distribution metrics were computed on: the embedding and the sample sizes (FD is biased at small n)."""
    sizes = []
    for column, words in (("test/distribution_n", "generated faces"), ("test/distribution_real_n", "real photos")):
        values = pd.to_numeric(picked[column], errors="coerce").dropna() if column in picked else pd.Series(dtype=float)
        if not values.empty:
            low, high = int(values.min()), int(values.max())
            sizes.append(f"{low if low == high else f'{low}-{high}'} {words}")
    n = " against ".join(sizes) if sizes else "sample sizes not recorded"
    sampled = ""
    if "test/distribution_prdc_n" in picked and "test/distribution_n" in picked:
        used = pd.to_numeric(picked["test/distribution_prdc_n"], errors="coerce")
        if (used < pd.to_numeric(picked["test/distribution_n"], errors="coerce")).any():
            sampled = f"Precision, recall, density and coverage use a seeded sample of at most {int(used.max())} points of each set. "
    return (f"Sets: per seed, {n} of the test split, each face embedded by the study's judge (the embedding of Table I). " + sampled +
            "FD is biased upwards at small n, so compare it only at equal n; KID is unbiased (about 0 for sets from one "
            "distribution, and it can fall below 0); precision, recall, density and coverage use 5-nearest-neighbour balls "
            "(Naeem et al. 2020). No Inception network: nothing is downloaded, and values are not comparable with published FIDs.")


def table_identity(trials: pd.DataFrame) -> pd.DataFrame:
    """The identity metrics beyond the paper (1:2 matching, top-1, Recall@K in %, cosine); no paper column.

    Columns as ``table_one``; rows are the families in the trials only, and a metric no family reported
    (Recall@5 with fewer than 5 identities) is left out and named in the notes.
    """
    return _family_table(trials, "identity", "table_identity")


def _notes(trials: pd.DataFrame, best: pd.DataFrame, table: str, shown: list[str], frame: pd.DataFrame) -> list[str]:
    notes = []
    selection = sorted({f"{m}, {mode}" for m, mode in zip(best.get("metric", []), best.get("mode", []))})
    notes.append(f"Each row: per seed, the trial best on validation ({'; '.join(selection) or 'the search metric'}) among trials that "
                 f"did not fail, reported on the test split; mean over seeds ± half-width of the {LEVEL:.0%} t-interval; "
                 "n=1: one seed, no interval. Bold: best mean (see the ranking for whether gaps exceed noise).")
    scales = "; ".join(f"{label(m)} {_arrow(m)}: {METRICS[m].scale}{' (x 100)' if is_fraction(m) else ''}" for m in shown)
    notes.append(f"Scales: {scales}.")
    seeds = {fam: int(frame.loc[fam, "seeds"]) for fam in frame.index if frame.loc[fam, "seeds"] > 0}
    notes.append(sample_note(per_seed_values(best[best["target"].isin(frame.index)], shown), seeds))
    if table == "I":
        notes.append(f"Paper: Agarwal et al., Table I (percent; 305/420, 286/420, 355/420 test pairs in the authors' code). "
                     f"Paper's judge on real faces: {PAPER_JUDGE['verification_accuracy']} % at tau = {PAPER_JUDGE['tau']}.")
        judge = judge_summary(trials)
        if judge is not None:
            notes.append(f"Our judge on real test pairs: {judge['accuracy']:.1f} % at tau = {judge['tau']:.2f} "
                         f"(mean over {judge['n']} seed{'s' if judge['n'] != 1 else ''}).")
    elif table == "II":
        notes.append("Paper: Agarwal et al., Table II, as published (MAE, MSE on [0, 1]; SNR, PSNR in dB; PAMSE on 0-255; SSIM).")
    elif table == "distribution":
        notes.append(_distribution_note(best[best["target"].isin(frame.index)]))
    else:
        gallery = _gallery_note(best[best["target"].isin(frame.index)], shown)
        if gallery:
            notes.append(gallery)
    dropped = [m for m in table_metrics(table) if m not in shown] if table in SPARSE_TABLES else []
    if dropped:
        notes.append(f"Not reported by any family (left out): {', '.join(dropped)}.")
    for fam in frame.index:
        if frame.loc[fam, "seeds"] == 0 and fam in set(trials["target"]):
            group = trials[trials["target"] == fam]
            failed = group[group["status"] == "failed"]
            reason = failed["error"].dropna().iloc[0] if "error" in failed and failed["error"].notna().any() else None
            notes.append(f"{fam}: no finished trial ({len(failed)} of {len(group)} failed"
                         f"{'; first reason: ' + str(reason) if reason else ''}).")
        elif frame.loc[fam, "seeds"] == 0:
            notes.append(f"{fam}: not run; paper value only.")
    picked = best[best["target"].isin(frame.index)]
    lacking = picked[~_has_test_values(picked)]
    for _, row in lacking.iterrows():
        notes.append(f"{row['target']} seed {row['seed']}: its selected trial has no test values (checkpoint without test_metrics.json).")
    return notes


def paired_comparisons(trials: pd.DataFrame, which: Iterable[str] = ("I", "II")) -> pd.DataFrame:
    """Every pair of families on every metric of the given paper tables: the mean paired difference over seeds.

    Per search (family, seed) the validation-best trial (``best_per_search``); a comparison's seeds pair up
    across families (same voice stage, judge, data split and seed index), so family A and B are compared on
    the seeds both have: difference = mean over those seeds of (A's test value - B's), on the table's scale
    (fractions x 100, so accuracy differences are in percentage points), with its 95 % paired Student-t interval
    (``budget.paired_differences``). Columns: ``metric``, ``scale``, then ``paired_differences``' columns
    (``a``, ``b``, ``difference``, ``low``, ``high``, ``n_pairs``, ``pairs``, ``higher_is_better`` from
    ``METRICS``, ``within_noise``, ``better``). Families in table order (vae, cgan, rcgan, then others).
    """
    best = _selected(trials)
    names = families(trials)
    parts = []
    for m in (m for table in which for m in table_metrics(table)):
        column = _test_column(m)
        if column not in best:
            continue
        frame = best.assign(_value=pd.to_numeric(best[column], errors="coerce") * display_factor(m))
        part = paired_differences(frame, "_value", "target", "seed", METRICS[m].higher_is_better, LEVEL, names)
        part.insert(0, "metric", m)
        part.insert(1, "scale", f"{METRICS[m].scale}{' (x 100: percentage points)' if is_fraction(m) else ''}")
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# --------------------------------------------------------------------------- voice encoders


def voice_encoders(trials: pd.DataFrame, order: Iterable[str] | None = None) -> list[str]:
    """The voice encoders of the generator searches among ``trials`` (column ``voice_encoder``): those in
    ``order`` first, in that order (a ``compare --voice-encoders`` study's), then the others alphabetically."""
    if "voice_encoder" not in trials:
        return []
    found = set(generator_rows(trials)["voice_encoder"].dropna().unique())
    first = [e for e in (order or []) if e in found]
    return first + sorted(found - set(first))


def encoder_table(trials: pd.DataFrame, encoders: list[str], metric: str = "verification_accuracy") -> pd.DataFrame:
    """Each family's Table I ``metric`` under each voice encoder: one row per (family, encoder).

    Per encoder, the searches of that encoder's sub-study, the validation-best trial of each (family, seed)
    (``best_per_search``), and over those seeds the mean test value on the table's scale (%) with its 95 %
    Student-t interval (``budget.seed_summary``; NaN with one seed). Columns: ``family``, ``encoder``,
    ``mean``, ``low``, ``high``, ``seeds``, ``decisions`` (test decisions per seed, the fewest over seeds).
    """
    column = _test_column(metric)
    rows = []
    for encoder in encoders:
        part = trials[trials["voice_encoder"] == encoder]
        names = families(part)
        best = best_per_search(part[part["target"].isin(names)])
        for fam in names:
            picked = best[best["target"] == fam]
            values = pd.to_numeric(picked[column], errors="coerce").dropna().to_numpy() * display_factor(metric) if column in picked else np.array([])
            s = seed_summary(values, LEVEL) if values.size else {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
            rows.append({"family": fam, "encoder": encoder, "mean": s["mean"], "low": s["low"], "high": s["high"], "seeds": s["n"],
                         "decisions": _fewest_decisions(picked, column)})
    frame = pd.DataFrame(rows, columns=["family", "encoder", "mean", "low", "high", "seeds", "decisions"])
    frame["_key"] = [_family_key(f) for f in frame["family"]]
    return frame.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)


def encoder_differences(trials: pd.DataFrame, encoders: list[str], metric: str = "verification_accuracy") -> pd.DataFrame:
    """Per family, every later encoder minus the first (the reference) on Table I ``metric``, paired by seed.

    A ``compare --voice-encoders`` study runs the same seeds, judge and split under every encoder, so search k
    of encoder A pairs with search k of encoder B; ``budget.paired_differences`` gives the mean of (B_k - A_k)
    over the seeds both have, on the table's scale (percentage points), with its 95 % paired t-interval.
    Columns: ``family``, then ``paired_differences``' (``a`` = the later encoder, ``b`` = the reference).
    """
    column = _test_column(metric)
    parts = []
    for fam in families(trials[trials["voice_encoder"].isin(encoders)]):
        rows = trials[(trials["target"] == fam) & trials["voice_encoder"].isin(encoders)]
        best = pd.concat([best_per_search(rows[rows["voice_encoder"] == e]) for e in encoders], ignore_index=True)
        if best.empty or column not in best:
            continue
        frame = best.assign(_value=pd.to_numeric(best[column], errors="coerce") * display_factor(metric))
        for other in encoders[1:]:
            part = paired_differences(frame, "_value", "voice_encoder", "seed", METRICS[metric].higher_is_better, LEVEL, [other, encoders[0]])
            part.insert(0, "family", fam)
            parts.append(part)
    columns = ["family", "a", "b", "difference", "low", "high", "n_pairs", "pairs", "higher_is_better", "within_noise", "better"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------- rendering


def _decimals(frame: pd.DataFrame, metric: str) -> int:
    """Decimals for our values of one column: two significant digits of the smallest interval half-width,
    else four significant digits of the typical value; between 0 and 4."""
    half = frame[metric + ":half"].to_numpy(dtype=float)
    half = half[np.isfinite(half) & (half > 1e-9)]  # a zero spread (e.g. identical seeds) says nothing about precision
    if half.size:
        return int(min(4, max(0, 1 - math.floor(math.log10(half.min())))))
    means = np.abs(frame[metric].to_numpy(dtype=float))
    means = means[np.isfinite(means) & (means > 0)]
    if metric in PAPER_DECIMALS and not means.size:
        return PAPER_DECIMALS[metric]
    if not means.size:
        return 2
    return int(min(4, max(0, 3 - math.floor(math.log10(float(np.median(means)))))))


def _ours(row: pd.Series, metric: str, decimals: int, pm: str) -> str:
    mean, half, n = row[metric], row[metric + ":half"], int(row[metric + ":n"])
    if not np.isfinite(mean):
        return "—"
    if n == 1 or not np.isfinite(half):
        return f"{mean:.{decimals}f} (n=1)"
    return f"{mean:.{decimals}f} {pm} {half:.{decimals}f}"


def _paper_text(value: float, metric: str) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{value:.{PAPER_DECIMALS.get(metric, 3)}f}"


def _display(table: pd.DataFrame, fmt: str) -> tuple[list[str], list[list[str]]]:
    """Headers and string rows: family, then per metric ours (and the paper's), then seeds."""
    metrics = table.attrs.get("metrics") or [c for c in table.columns if c in METRICS]
    latex = fmt == "latex"
    pm = r"$\pm$" if latex else "±"
    headers = ["family"]
    for m in metrics:
        headers.append(f"{_escape(label(m), fmt)} {_arrow(m, latex)}")
        if m + ":paper" in table.columns:
            headers.append(f"{_escape(label(m), fmt)}, paper")
        if m + ":chance" in table.columns:
            headers.append(f"{_escape(label(m), fmt)}, chance")
    headers.append("seeds")
    decimals = {m: _decimals(table, m) for m in metrics}
    rows = []
    for fam, row in table.iterrows():
        status = row.get("status")
        marked = " (reference)" if status == "reference" else (" (not trained)" if status not in (None, "trained", "unmeasured", "not run") else "")
        cells = [_escape(f"{fam}{marked}", fmt)]
        for m in metrics:
            text = _ours(row, m, decimals[m], pm)
            best = bool(row.get(m + ":best", False)) and text != "—"
            cells.append(_dash(_bold(text, fmt) if best else text, latex))
            if m + ":paper" in table.columns:
                cells.append(_dash(_paper_text(row[m + ":paper"], m), latex))
            if m + ":chance" in table.columns:
                cells.append(_dash(_chance_text(row[m + ":chance"], row[m + ":gallery"]), latex))
        cells.append(str(int(row["seeds"])))
        rows.append(cells)
    return headers, rows


def _chance_text(chance: float, gallery: float) -> str:
    """K/G (already on the table's scale) with its G, e.g. "5.0 (G=20)"; a dash when G was not recorded."""
    if not np.isfinite(chance) or not np.isfinite(gallery):
        return "—"
    return f"{chance:.1f} (G={int(gallery)})"


def _dash(text: str, latex: bool) -> str:
    """Our number cells need no escaping; only LaTeX gets "--" for the missing-value dash."""
    return text.replace("—", "--") if latex else text


def _escape(text: str, fmt: str) -> str:
    if fmt == "latex":
        for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                           ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
            text = text.replace(char, repl)
        for char, repl in (("<", "$<$"), (">", "$>$"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"), ("—", "--")):
            text = text.replace(char, repl)
        return text
    if fmt == "html":
        return html.escape(text)
    return text


def _bold(text: str, fmt: str) -> str:
    return {"markdown": f"**{text}**", "latex": rf"\textbf{{{text}}}", "html": f"<b>{text}</b>"}.get(fmt, text)


def _counts_display(table: pd.DataFrame, fmt: str) -> tuple[list[str], list[list[str]]]:
    records = table.attrs.get("counts") or []
    headers = ["family"] + [COUNT_HEADERS[c] for c in COUNT_COLUMNS]
    rows = []
    for rec in records:
        cells = [_escape(str(rec["family"]), fmt)]
        for c in COUNT_COLUMNS:
            value = rec.get(c)
            if c in ("time_s", "cpu_s", "gpu_s"):
                cells.append(f"{value:.0f}" if isinstance(value, (int, float)) and np.isfinite(value) else "?")
            else:
                cells.append(_plain(value) if not isinstance(value, (int, np.integer)) else str(int(value)))
        rows.append(cells)
    return headers, rows


def _csv(table: pd.DataFrame) -> str:
    frame = table.copy()
    counts = pd.DataFrame(table.attrs.get("counts") or [])
    if not counts.empty:
        counts = counts.set_index("family").drop(columns="seeds", errors="ignore")
        frame = frame.join(counts, how="left")
    frame.attrs = {}
    return frame.reset_index().to_csv(index=False, float_format="%.6g")


def render(table: pd.DataFrame, fmt: str = "markdown") -> str:
    """The table as text: ``markdown`` (GitHub pipes), ``latex`` (a table environment), ``csv`` or ``html`` (a fragment).

    Markdown, LaTeX and HTML show the title, our values as "mean ± half-width" (or "mean (n=1)"), the paper's
    value as published beside each, the best mean in bold, then the notes and the per-family counts table.
    CSV is the numeric table itself, one row per family with every column of the frame plus the counts
    (trials, completed, stopped, failed, unfinished, time_s, cpu_s, gpu_s, cpus, gpus).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(table)
    from tabulate import tabulate

    title = table.attrs.get("title", "")
    notes = [_escape(n, fmt) for n in table.attrs.get("notes", [])]
    headers, rows = _display(table, fmt)
    c_headers, c_rows = _counts_display(table, fmt)
    if fmt == "markdown":
        main = tabulate(rows, headers, tablefmt="github", disable_numparse=True)
        counts = tabulate(c_rows, c_headers, tablefmt="github", disable_numparse=True) if c_rows else ""
        parts = [f"**{title}**", main, "\n".join(f"- {n}" for n in notes), "Trials and budget per family:", counts]
        return "\n\n".join(p for p in parts if p) + "\n"
    if fmt == "html":
        main = tabulate(rows, headers, tablefmt="unsafehtml", disable_numparse=True)
        counts = tabulate(c_rows, c_headers, tablefmt="unsafehtml", disable_numparse=True) if c_rows else ""
        note_html = "".join(f"<li>{n}</li>" for n in notes)
        return (f'<div class="v2f-table" id="{html.escape(table.attrs.get("name", "table"))}">\n<h3>{html.escape(title)}</h3>\n'
                f"{main}\n<ul class=\"notes\">{note_html}</ul>\n<p>Trials and budget per family:</p>\n{counts}\n</div>\n")
    main = tabulate(rows, headers, tablefmt="latex_raw", disable_numparse=True)
    counts = tabulate(c_rows, [_escape(h, fmt) for h in c_headers], tablefmt="latex_raw", disable_numparse=True) if c_rows else ""
    note_tex = " ".join(notes).replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$").replace("±", r"$\pm$")
    return ("\\begin{table}[t]\n\\centering\n\\caption{" + _escape(title, fmt) + "}\n" + main + "\n\n\\smallskip\n" + counts
            + "\n\n\\smallskip\n{\\footnotesize " + note_tex + "}\n\\end{table}\n")


# --------------------------------------------------------------------------- files


def write_tables(trials: pd.DataFrame, out_dir: str | Path) -> dict[str, list[Path]]:
    """Write ``table1``, ``table2``, ``table_identity`` and ``table_distribution`` as .md, .tex, .csv and .html, and ``trials.csv``.

    Beside each table, ``<name>_seeds.csv`` holds the per-seed values it is computed from (``per_seed_values``).

    ``trials.parquet`` is written too when pyarrow is installed and can store the frame (config columns
    mixing types are stored as text). Returns {"table1": [paths], ..., "trials": [paths]}. The directory is
    created. UserError (nothing written) when no family has a finished trial with test values.
    """
    builders = {"table1": table_one, "table2": table_two, "table_identity": table_identity, "table_distribution": table_distribution}
    tables = {name: build(trials) for name, build in builders.items()}  # raises before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name, table in tables.items():
        written[name] = []
        for fmt, ext in FORMATS.items():
            path = out / f"{name}.{ext}"
            path.write_text(render(table, fmt), encoding="utf-8")
            written[name].append(path)
        seeds_csv = out / f"{name}_seeds.csv"
        pd.DataFrame(table.attrs["per_seed"], columns=["family", "seed", "metric", "value", "decisions", "unit", "trial_id"]).to_csv(
            seeds_csv, index=False, float_format="%.6g")
        written[name].append(seeds_csv)
    trials_csv = out / "trials.csv"
    trials.to_csv(trials_csv, index=False)
    written["trials"] = [trials_csv]
    parquet = _write_parquet(trials, out / "trials.parquet")
    if parquet is not None:
        written["trials"].append(parquet)
    return written


def _write_parquet(trials: pd.DataFrame, path: Path) -> Path | None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    frame = trials.copy()
    frame.attrs = {}
    try:
        frame.to_parquet(path, index=False)
        return path
    except (ValueError, TypeError):
        try:  # object columns mixing types (a config value that is a number in one trial, text in another)
            for column in frame.columns[frame.dtypes == object]:
                frame[column] = frame[column].map(lambda v: None if _missing(v) else v if isinstance(v, str) else str(v))
            frame.to_parquet(path, index=False)
            return path
        except (ValueError, TypeError):
            path.unlink(missing_ok=True)
            return None


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
