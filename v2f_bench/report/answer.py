"""The report's first screen: which family is ahead at the study's budget and by how much, in sentences made from the data.

Read from the same frames as the tables: Table I (``tables.table_one``: test accuracy over seeds with its 95 % interval
and each family's training status against its chance line), the paired differences (``tables.paired_comparisons``),
the compute each family's runs spent (and whether any spent less than its budget), and, when the trials evaluated at rungs, the family ahead at each rung of the
ladder (``ladder.leaders``). A family that is not "trained" is never named ahead: its numbers describe a model that
did not learn. Reference families (``models.family.ReferenceFamily``: mean-face, nearest-identity) are never named ahead
either; their rows follow, with every other family's paired difference to each of them.
"""

from __future__ import annotations

import math

import pandas as pd

from v2f_bench.compute import format_flops
from v2f_bench.report import ladder, tables
from v2f_bench.report.training_status import REFERENCE, reference_rows

METRIC = "verification_accuracy"


def _interval(row: pd.Series) -> str:
    half = row[f"{METRIC}:half"]
    return f"{row[METRIC]:.1f} ± {half:.1f} %" if pd.notna(half) else f"{row[METRIC]:.1f} % (one seed, no interval)"


def _budget(trials: pd.DataFrame, family: str) -> str:
    """The trial budget of the family's selected runs (``config/budget_flops``), else the FLOPs they spent."""
    best = tables.best_per_search(tables.generator_rows(trials))
    mine = best[best["target"] == family]
    for column, words in (("config/budget_flops", "a {} budget per run"), ("train_flops", "{} of training per run")):
        values = pd.to_numeric(mine[column], errors="coerce").dropna() if column in mine else pd.Series(dtype=float)
        values = values[values > 0]
        if not values.empty:
            return words.format(format_flops(float(values.mean())))
    return "unrecorded compute"


def answer(trials: pd.DataFrame, ladder_table: pd.DataFrame | None = None) -> list[str]:
    """The answer in sentences: the family ahead (with its lead over the next trained family, paired over seeds), or
    that none is trained; every family's Table I with its status; the family ahead along the ladder."""
    table = tables.table_one(trials)
    everything = table[table["seeds"] > 0]
    references = everything[everything["status"] == REFERENCE]
    ran = everything[everything["status"] != REFERENCE]
    trained = ran[ran["status"] == "trained"]
    decisions = ran[f"{METRIC}:decisions"].min()
    per_seed = f"{int(decisions)} test decisions per seed" if pd.notna(decisions) else "test decisions not recorded"
    lines, named = [], []
    if trained.empty:
        statuses = ", ".join(f"{family} {row['status']}" for family, row in ran.iterrows())
        lines.append(f"No family is shown to have learned at this budget ({statuses}), so this study gives no verdict on any family "
                     f"({per_seed}).")
    else:
        order = trained.sort_values(METRIC, ascending=False)
        first = order.index[0]
        named = list(order.index[:2])
        n = int(order.iloc[0]["seeds"])
        text = (f"{first} is ahead within {_budget(trials, first)}: Table I {_interval(order.iloc[0])} "
                f"(n = {n} seed{'s' if n != 1 else ''}, {per_seed})")
        if len(order) > 1:
            second = order.index[1]
            text += f", against {second}'s {_interval(order.iloc[1])}" + _lead(trials, first, second)
        elif len(ran) > 1:
            text += "; it is the only trained family"
        lines.append(text + ".")
    for family, row in ran.iterrows():
        if family in named:
            continue
        lines.append(f"{family}: Table I {_interval(row)} within {_budget(trials, family)}, {row['status']}.")
    if not references.empty:
        lines.append("References (fitted once, not trained): " + "; ".join(f"{family} Table I {_interval(row)}" for family, row in references.iterrows())
                     + ".")
        lines += _against_references(trials, ran["status"].to_dict(), list(references.index))
    short = _short_of_budget(trials)
    if short:
        lines.append("Not equal in compute: " + "; ".join(short) + " (a run that stops short of its budget is a defect of the study, "
                     "not a property of its family).")
    if ladder_table is not None and not ladder_table.empty:
        steps = [f"rung {rung} ({format_flops(ladder.rung_flops(ladder_table, rung))}): {leader or 'none trained'}"
                 for rung, leader in ladder.leaders(ladder_table)]
        lines.append("Ahead along the ladder of budgets: " + "; ".join(steps) + ".")
        lines += _equal_total(ladder_table)
    return lines


def _equal_total(ladder_table: pd.DataFrame) -> list[str]:
    """The ladder read at equal total compute (``ladder.at_equal_total``), as one sentence; none without recorded totals."""
    total, read = ladder.at_equal_total(ladder_table)
    if read.empty or len(read) < 2:
        return []
    parts = []
    for _, row in read.sort_values("mean", ascending=False).iterrows():
        half = f" ± {row['half']:.1f}" if pd.notna(row["half"]) else ""
        parts.append(f"{row['family']} {row['mean']:.1f}{half} % at rung {int(row['rung'])} ({format_flops(row['train_flops'])} of training, "
                     f"{row['status']})")
    return [f"At equal total compute (training and evaluation, {format_flops(total)} per run: each family read at its last rung within "
            "it; evaluation includes generating every evaluated face, which a diffusion sampler pays per step): " + "; ".join(parts) + "."]


def _oriented(paired: pd.DataFrame, metric: str, first: str, second: str) -> tuple[float, float, float, int] | None:
    """(difference, low, high, n_pairs) of ``first`` - ``second`` on ``metric`` from ``tables.paired_comparisons`` rows,
    whichever way round the pair is listed; None when the pair is absent."""
    if paired.empty:
        return None
    rows = paired[(paired["metric"] == metric) & paired["a"].isin([first, second]) & paired["b"].isin([first, second])]
    if rows.empty:
        return None
    row = rows.iloc[0]
    sign = 1.0 if row["a"] == first else -1.0
    low, high = sorted((sign * row["low"], sign * row["high"]))
    return sign * row["difference"], low, high, int(row["n_pairs"])


def _lead(trials: pd.DataFrame, first: str, second: str) -> str:
    found = _oriented(tables.paired_comparisons(trials, ("I",)), METRIC, first, second)
    if found is None:
        return ""
    difference, low, high, n_pairs = found
    if math.isnan(low):
        return f", a lead of {difference:.1f} points (one paired seed, no interval)"
    decided = "" if low > 0 else ("; the interval lies below 0: paired seed by seed, the order reverses" if high < 0
                                  else "; the interval contains 0, so the lead is within noise")
    return f", a lead of {difference:.1f} points [{low:.1f}, {high:.1f}] paired over {n_pairs} seeds{decided}"


AGAINST = {"verification_accuracy": "Table I accuracy", "matching_1to2": "1:2 matching"}
"""The metrics on which every family is set against each reference: Table I, and 1:2 matching (the identity-disjoint studies' question)."""


def _against_references(trials: pd.DataFrame, families: dict[str, str], references: list[str]) -> list[str]:
    """Per reference and metric of ``AGAINST``: each family's paired difference to it over seeds, and whether it beats it.
    ``families``: family -> training status; a family that is not "trained" carries its status beside its name, so that
    an untrained model that edges past a reference on one metric is not read as a verdict on its family."""
    paired = tables.paired_comparisons(trials, ("I", "identity"))
    if paired.empty or not families:
        return []
    lines = []
    for reference in references:
        for metric in AGAINST:
            parts = []
            for family, status in families.items():
                found = _oriented(paired, metric, family, reference)
                if found is None:
                    continue
                difference, low, high, _ = found
                name = family if status == "trained" else f"{family} ({status})"
                if math.isnan(low):
                    parts.append(f"{name} {difference:+.1f} (one paired seed: undecided)")
                    continue
                verdict = "beats it" if low > 0 else ("below it" if high < 0 else "not shown to beat it")
                parts.append(f"{name} {difference:+.1f} [{low:+.1f}, {high:+.1f}] {verdict}")
            if parts:
                lines.append(f"Against {reference} on {AGAINST[metric]} (percentage points, paired over seeds, 95 % interval): " + "; ".join(parts) + ".")
    return lines


def _short_of_budget(trials: pd.DataFrame) -> list[str]:
    """The families whose selected runs spent less than their trial budget (``config/budget_flops``, in training FLOPs or, under
    ``budget_counts`` train+eval, training and evaluation FLOPs), with the share spent."""
    best = tables.best_per_search(tables.generator_rows(trials))
    best = best[~reference_rows(best)]  # a reference spends no budget by design
    if best.empty or "config/budget_flops" not in best or "train_flops" not in best:
        return []
    budget = pd.to_numeric(best["config/budget_flops"], errors="coerce")
    counted = pd.to_numeric(best["train_flops"], errors="coerce")
    if "config/budget_counts" in best and "total_flops" in best:  # a budget that counts evaluation is spent by both
        counted = counted.where(best["config/budget_counts"] != "train+eval", pd.to_numeric(best["total_flops"], errors="coerce"))
    share = counted / budget
    short = best.assign(_share=share)[(budget > 0) & (share < 1.0)]
    return [f"{family}'s runs spent as little as {100 * group['_share'].min():.0f} % of their budget "
            f"({', '.join(sorted(set(map(str, group['status']))))})" for family, group in short.groupby("target")]
