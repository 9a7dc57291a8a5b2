"""The ladder of budgets: Table I at each rung of the generator trials' FLOP budget, from one run per seed.

A generator trial with ``budget_flops`` evaluates at log-spaced fractions of it (``tasks.generator.rung_fractions``)
and keeps every point's test values in its newest checkpoint (``ladder.json``, read into ``Collection.ladder``).
At each rung, the trials frame is taken as it was there (``trials_at``: each trial's ``test/`` values replaced by
that point's), and the report's own functions make the table: ``tables.table_one`` for the mean over seeds with
its 95 % Student-t interval and the training status against the chance line, ``claims.claims_table`` for the
verdicts. So a rung is read exactly as the final tables are, only earlier in training.

Selection: the search's selected trial (``tables.best_per_search``, on validation) gives every rung's row; with
one trial per search (the laptop profiles) that is simply the seed's run. The tables above the ladder report the
checkpoint selected on validation within the whole budget, which may be an earlier rung than the top one.
"""

from __future__ import annotations

import math

import pandas as pd

from v2f_bench.compute import format_flops
from v2f_bench.report import claims, tables
from v2f_bench.report.training_status import REFERENCE

METRIC = "verification_accuracy"
COLUMNS = ["rung", "fraction", "train_flops", "total_flops", "family", "mean", "half", "n", "chance", "status", "capped", "ahead"]
EQUAL_TOTAL_COLUMNS = ["family", "rung", "train_flops", "total_flops", "mean", "half", "n", "status"]


def rungs(ladder: pd.DataFrame) -> list[int]:
    """The rungs the trials evaluated at, in order."""
    return [] if ladder.empty or "rung" not in ladder else sorted(int(r) for r in ladder["rung"].dropna().unique())


def trials_at(trials: pd.DataFrame, ladder: pd.DataFrame, rung: int) -> pd.DataFrame:
    """``trials`` with every trial's ``test/`` values replaced by those of its point at ``rung``; trials with no such
    point are left out (their values there are unknown)."""
    points = ladder[ladder["rung"] == rung].drop_duplicates(["experiment_path", "trial_id"], keep="last")
    keyed = points.set_index(["experiment_path", "trial_id"])
    test_columns = [c for c in points.columns if c.startswith("test/")]
    rows = []
    for _, row in trials.iterrows():
        key = (row["experiment_path"], row["trial_id"])
        if key not in keyed.index:
            continue
        point = keyed.loc[key]
        row = row.copy()
        for column in [c for c in row.index if c.startswith("test/")]:
            row[column] = math.nan
        for column in test_columns:
            row[column] = point[column]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(dict.fromkeys(list(trials.columns) + test_columns)))


def ladder_table(trials: pd.DataFrame, ladder: pd.DataFrame) -> pd.DataFrame:
    """One row per (rung, family run): ``COLUMNS``. ``fraction``: the rung's share of the budget; ``train_flops``: the
    mean training FLOPs the family's runs had spent there; ``total_flops``: the mean of training and evaluation FLOPs
    spent by the end of that rung's evaluation (NaN for ladders older than the count); ``mean`` / ``half`` / ``n``: test Table I (%) over seeds with the
    half-width of its 95 % interval; ``chance``: the mean of its chance line (%); ``status``: ``training_status``
    at that rung; ``capped``: a run's epoch cap ended it there, short of the rung's share; ``ahead``: the family with the
    highest mean among those "trained" and not capped there (False for all when none is). Only the selected trials' points count."""
    rows = []
    for rung in rungs(ladder):
        at = trials_at(trials, ladder, rung)
        if tables.generator_rows(at).empty:
            continue
        table = tables.table_one(at)
        selected = tables.best_per_search(tables.generator_rows(at))
        keys = set(zip(selected["experiment_path"], selected["trial_id"]))
        chosen = pd.Series([key in keys for key in zip(ladder["experiment_path"], ladder["trial_id"])], index=ladder.index)
        points = ladder[(ladder["rung"] == rung) & chosen]
        for family, row in table.iterrows():
            if row["seeds"] == 0:
                continue
            mine = points[points["target"] == family]
            chance = pd.to_numeric(mine.get("test/chance_verification_accuracy"), errors="coerce").mean() * 100
            capped = bool(pd.to_numeric(mine.get("capped", pd.Series(dtype=float)), errors="coerce").fillna(0).any())
            evaluation = pd.to_numeric(mine["eval_flops"], errors="coerce") if "eval_flops" in mine else pd.Series(math.nan, index=mine.index)
            rows.append({"rung": rung, "fraction": float(mine["rung_fraction"].mean()), "train_flops": float(mine["train_flops"].mean()),
                         "total_flops": float((mine["train_flops"] + evaluation).mean()),
                         "family": family, "mean": row[METRIC], "half": row[f"{METRIC}:half"], "n": int(row[f"{METRIC}:n"]),
                         "chance": chance, "status": row["status"], "capped": capped, "ahead": False})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for rung, group in frame.groupby("rung"):
        trained = group[(group["status"] == "trained") & ~group["capped"]]
        if not trained.empty:
            frame.loc[trained["mean"].idxmax(), "ahead"] = True
    return frame


def rung_flops(table: pd.DataFrame, rung: int) -> float:
    """The training FLOPs the trained families' runs had spent at ``rung`` (mean): a reference family spends none, by design."""
    at = table[(table["rung"] == rung) & (table["status"] != REFERENCE)]
    return float((at if not at.empty else table[table["rung"] == rung])["train_flops"].mean())


def at_equal_total(table: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """The ladder read at equal total compute: (T, one row per family that is not a reference, ``EQUAL_TOTAL_COLUMNS``,
    with its training status at the rung read).

    Total compute is training plus evaluation FLOPs (``total_flops``: generating and judging the faces of every evaluation
    so far), what a ``--budget-counts train+eval`` budget counts. T is the smallest total any family that is not a reference
    (trained or not) reached at its top rung; each such family is read at its last rung whose total is within T (a family that pays more per
    evaluation, such as a diffusion sampler, is read at an earlier rung, with less training). A family with no rung within
    T, or without recorded totals, is left out. (nan, empty frame) when no total was recorded."""
    ran = table[(table["status"] != REFERENCE) & table["total_flops"].notna()]
    if ran.empty:
        return math.nan, pd.DataFrame(columns=EQUAL_TOTAL_COLUMNS)
    tops = ran.sort_values("rung").groupby("family").tail(1)
    total = float(tops["total_flops"].min())
    rows = []
    for family, group in ran.groupby("family", sort=False):
        within = group[group["total_flops"] <= total * (1 + 1e-9)].sort_values("rung")
        if not within.empty:
            rows.append(within.iloc[-1][EQUAL_TOTAL_COLUMNS].to_dict())
    return total, pd.DataFrame(rows, columns=EQUAL_TOTAL_COLUMNS)


def leaders(table: pd.DataFrame) -> list[tuple[int, str | None]]:
    """(rung, the family ahead there or None) in rung order."""
    out = []
    for rung, group in table.groupby("rung", sort=True):
        ahead = group[group["ahead"]]
        out.append((int(rung), str(ahead["family"].iloc[0]) if not ahead.empty else None))
    return out


def order_changes(table: pd.DataFrame) -> list[str]:
    """Sentences naming each rung where the family ahead changes, including where a family first is ahead after rungs
    where none was trained."""
    out, previous = [], None
    for k, (rung, leader) in enumerate(leaders(table)):
        if k > 0 and leader != previous and leader is not None:
            flops = format_flops(rung_flops(table, rung))
            out.append(f"at rung {rung} ({flops}) {leader} is ahead, after {previous or 'no trained family'}")
        previous = leader if leader is not None else previous
    return out


def claims_by_rung(trials: pd.DataFrame, ladder: pd.DataFrame, judge: dict | None) -> pd.DataFrame:
    """Each claim's verdict at every rung (columns ``rung <k>``) beside its verdict in the report's claims table (``final``)."""
    final = claims.claims_table(trials, judge)
    frame = final[["claim"]].copy()
    for rung in rungs(ladder):
        at = trials_at(trials, ladder, rung)
        verdicts = claims.claims_table(at, judge).set_index("claim")["verdict"] if not tables.generator_rows(at).empty else pd.Series(dtype=object)
        frame[f"rung {rung}"] = [verdicts.get(claim, "—") for claim in frame["claim"]]
    frame["final"] = final["verdict"].to_numpy()
    return frame


def render(table: pd.DataFrame) -> str:
    """The ladder as Markdown: one row per rung, one column per family ("mean ± half (status)", the leader in bold)."""
    if table.empty:
        return ""
    families = list(dict.fromkeys(table["family"]))
    lines = ["| rung | share of budget | FLOPs | " + " | ".join(families) + " |", "|---:|---:|---:|" + "---|" * len(families)]
    for rung, group in table.groupby("rung", sort=True):
        cells = []
        for family in families:
            row = group[group["family"] == family]
            if row.empty:
                cells.append("—")
                continue
            r = row.iloc[0]
            half = f" ± {r['half']:.1f}" if pd.notna(r["half"]) else ""
            capped = "; short of budget: epoch cap" if r["capped"] else ""
            text = f"{r['mean']:.1f}{half} (chance {r['chance']:.1f}; {r['status']}{capped})"
            cells.append(f"**{text}**" if r["ahead"] else text)
        flops = rung_flops(table, rung)
        lines.append(f"| {rung} | {group['fraction'].mean():.3g} | {format_flops(flops)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
