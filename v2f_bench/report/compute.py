"""Compute budgeted and spent per generator search (family and seed), and the model sizes it trained with.

Pure functions over ``Collection.trials`` and ``Collection.records``; nothing here reads directories.

Per search, from its record (``v2f_search.json``): ``budget["compute"]`` (None, or {"amount", "unit": "flops" |
"cpu-s" | "gpu-s", "text", "counts": "train" | "train+eval"}) and ``spent`` ({"flops", "eval_flops", "cpu_s", "gpu_s",
"trials", "stopped_by_budget"}, summed over the search's trials by the search). Records written before compute budgets lack both: their cells are
NaN / None, shown "—". From the search's trials: the distinct values of ``config/precision`` and of the family
width hyperparameters (``WIDTH_KEYS``) they trained with.
"""

from __future__ import annotations

import math

import pandas as pd

from v2f_bench.report.tables import _family_key
from v2f_bench.targets import role_of

__all__ = ["WIDTH_KEYS", "COMPUTE_COLUMNS", "compute_table", "render_compute"]

WIDTH_KEYS = ("g_channels", "d_channels", "decoder_channels", "hidden_units", "latent_dim")
"""Family width hyperparameters (cgan / rcgan: g_channels, d_channels; vae: decoder_channels, hidden_units, latent_dim)."""
SPENT_KEYS = ("flops", "eval_flops", "cpu_s", "gpu_s", "trials", "stopped_by_budget")
COMPUTE_COLUMNS = ["family", "seed", "experiment", "budget", "budget_amount", "budget_unit", "budget_counts", *(f"spent_{k}" for k in SPENT_KEYS),
                   "flops_per_face", "precision", *WIDTH_KEYS]


def _distinct(values: pd.Series) -> str | None:
    """The distinct values a search's trials used, "/"-joined (None when no trial has one)."""
    found = sorted({f"{v:g}" if isinstance(v, float) else str(v) for v in values.dropna()})
    return "/".join(found) if found else None


def _search_row(path: str, record: dict, group: pd.DataFrame) -> dict:
    compute = (record.get("budget") or {}).get("compute") or {}
    spent = record.get("spent") or {}
    row = {"family": record.get("target"), "seed": record.get("seed"), "experiment": group["experiment"].iloc[0] if len(group) else path,
           "budget": compute.get("text"), "budget_amount": compute.get("amount", math.nan), "budget_unit": compute.get("unit"),
           "budget_counts": compute.get("counts", "train") if compute else None}
    row.update({f"spent_{k}": spent.get(k, math.nan if k != "stopped_by_budget" else None) for k in SPENT_KEYS})
    per_face = pd.to_numeric(group["sample_flops"], errors="coerce").dropna() if "sample_flops" in group else pd.Series(dtype=float)
    row["flops_per_face"] = float(per_face.max()) if not per_face.empty else math.nan
    for key in ("precision", *WIDTH_KEYS):
        column = f"config/{key}"
        row[key] = _distinct(group[column]) if column in group else None
    return row


def compute_table(trials: pd.DataFrame, records: dict[str, dict]) -> pd.DataFrame:
    """One row per generator search: its compute budget, what it spent, and the precision and widths it trained with.

    Columns ``COMPUTE_COLUMNS``: ``budget`` (the budget as given, e.g. "2PFLOP"; None without a compute budget),
    ``budget_amount`` and ``budget_unit`` (FLOPs, CPU- or GPU-seconds), ``budget_counts`` (what a FLOP budget counts:
    ``train`` or ``train+eval``, ``compute.BUDGET_COUNTS``), ``spent_flops`` (training FLOPs summed over the search's
    trials), ``spent_eval_flops`` (evaluation FLOPs: generating and judging the faces every evaluation point is measured
    on), ``flops_per_face`` (FLOPs of generating one face: one forward pass, or a sampler's steps), ``spent_cpu_s`` / ``spent_gpu_s`` (resource-seconds held, evaluation included),
    ``spent_trials``, ``spent_stopped_by_budget`` (whether the budget ended the search), then ``precision`` and
    each width key (distinct values over the trials, "/"-joined). Rows by family (vae, cgan, rcgan, others) and seed.
    """
    rows = []
    for path, record in records.items():
        search = record.get("search") or {}
        if role_of(search.get("target"), search.get("role")) != "generator":
            continue
        rows.append(_search_row(path, search, trials[trials["experiment_path"] == path]))
    frame = pd.DataFrame(rows, columns=COMPUTE_COLUMNS)
    if frame.empty:
        return frame
    frame["_key"] = [_family_key(str(f)) for f in frame["family"]]
    return frame.sort_values(["_key", "seed"], kind="stable").drop(columns="_key").reset_index(drop=True)


def _cell(value, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column in ("spent_flops", "spent_eval_flops", "budget_amount", "flops_per_face"):
        return f"{float(value):.3g}"
    if column in ("spent_cpu_s", "spent_gpu_s"):
        return f"{float(value):.0f}"
    if column == "spent_stopped_by_budget":
        return "yes" if value else "no"
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def render_compute(table: pd.DataFrame, fmt: str = "github") -> str:
    """The compute table as GitHub Markdown (``fmt="github"``) or HTML (``"html"``, escaped); width columns no
    search used are left out; missing cells "—"."""
    from tabulate import tabulate

    columns = [c for c in COMPUTE_COLUMNS if c not in WIDTH_KEYS or table[c].notna().any()]
    rows = [[_cell(row[c], c) for c in columns] for _, row in table.iterrows()]
    headers = [c.replace("spent_", "spent ").replace("_", " ") for c in columns]
    return tabulate(rows, headers, tablefmt=fmt, disable_numparse=True) + "\n"
