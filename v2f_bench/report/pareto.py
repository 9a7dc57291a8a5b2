"""Pareto fronts of multi-objective searches: non-dominated on validation, shown on test.

For each trial that did not fail, its objective values are read at the epoch the report selects
for it (its best epoch by the first objective, whose checkpoint carries its test values). Within
each family (all its seeds pooled), a trial is non-dominated when no other trial of the family is
at least as good on every objective and strictly better on one, each in its declared direction,
judged on validation values only. The table lists those trials with their validation and test
values; the figure draws their test values with the paper's published points on the same axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def dominated(values: np.ndarray, higher: Sequence[bool]) -> np.ndarray:
    """Row i is dominated when some row j is >= it in every column and > in one (each column oriented by ``higher``)."""
    oriented = np.asarray(values, dtype=float) * np.where(np.asarray(higher), 1.0, -1.0)
    at_least = (oriented[None, :, :] >= oriented[:, None, :]).all(axis=2)
    better = (oriented[None, :, :] > oriented[:, None, :]).any(axis=2)
    return (at_least & better).any(axis=1)


def objective_values(trials: pd.DataFrame, epochs: pd.DataFrame, objectives: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One row per usable trial: target, seed, trial_id, trial_number, ``val:<name>`` and ``test:<name>`` per objective."""
    rows = []
    usable = trials[(trials["status"] != "failed") & trials["best_epoch"].notna()]
    for _, trial in usable.iterrows():
        mine = epochs[(epochs["experiment_path"] == trial["experiment_path"]) & (epochs["trial_id"] == trial["trial_id"])]
        at = mine[mine["training_iteration"] == trial["best_epoch"]]
        if at.empty:
            continue
        row = {key: trial[key] for key in ("target", "seed", "trial_id", "trial_number")}
        for metric, _ in objectives:
            name = metric.removeprefix("val_")
            row[f"val:{name}"] = float(at[metric].iloc[0]) if metric in at else np.nan
            row[f"test:{name}"] = float(trial.get(f"test/{name}", np.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_table(trials: pd.DataFrame, epochs: pd.DataFrame, objectives: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Every usable trial with ``non_dominated`` (within its family, on validation); rows with a missing value are dropped."""
    frame = objective_values(trials, epochs, objectives)
    if frame.empty:
        return frame.assign(non_dominated=pd.Series(dtype=bool))
    val_cols = [f"val:{m.removeprefix('val_')}" for m, _ in objectives]
    frame = frame[np.isfinite(frame[val_cols].to_numpy(dtype=float)).all(axis=1)].copy()
    frame["non_dominated"] = False
    higher = [mode == "max" for _, mode in objectives]
    for _, group in frame.groupby("target"):
        frame.loc[group.index, "non_dominated"] = ~dominated(group[val_cols].to_numpy(dtype=float), higher)
    return frame.reset_index(drop=True)
