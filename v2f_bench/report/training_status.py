"""Whether each generator family learned: its selected trials against their chance line and their collapse measure.

A family's verdicts mean something only when it learned to use the voice. Every generator evaluation measures,
beside the family's faces, the chance line (``tasks.generator.evaluate_generator``: the same metrics of one fixed
face, the mean training face, for every voice, with the same judge, tau, targets and units) and the collapse
measure ``identity_spread``. Over the selected trial of every seed (``tables.best_per_search``: the rows the tables
report):

- ``gain``: the paired difference, in points, test Table I accuracy minus its chance line, with its 95 %
  Student-t interval over seeds (``budget.paired_interval``; none with one seed);
- ``spread``: the mean over seeds of the test ``identity_spread``;
- ``status``: "trained" when the gain's interval lies above 0 and the spread is at least ``COLLAPSED_BELOW``;
  "collapsed" when the spread is below it; "at chance" when the interval does not clear 0; "one seed" when
  there is no interval to clear it with; "unmeasured" when the trials predate the chance line (older runs; nothing is gated);
  "reference" for a reference family (``models.family.ReferenceFamily``: fitted, not trained; its gain is still measured),
  which is never named ahead and is no subject of a verdict, but a row the trained families are measured against.

A family that is not "trained" is marked so in the tables (``tables._family_table``), and a claim that involves it is
undecided (``claims.claims_table``), never contradicted: its numbers describe a model that did not learn, not its family.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from v2f_bench.report.budget import paired_interval

COLLAPSED_BELOW = 0.1
"""An ``identity_spread`` below this (the identities' generated faces at most a tenth as far apart, in the judge's
embedding space, as their target faces) marks a family collapsed. Declared before any result was read."""

TRAINED = "trained"
REFERENCE = "reference"
COLUMNS = ["family", "gain", "gain_low", "gain_high", "n", "spread", "status"]


def training_status(best: pd.DataFrame, names: list[str], level: float = 0.95) -> pd.DataFrame:
    """One row per family of ``names``, columns ``COLUMNS`` (see the module), from ``best``: the selected trial of
    every search (``tables.best_per_search``), with its ``target`` and test columns."""
    rows = []
    for name in names:
        picked = best[best["target"] == name]
        accuracy = _numbers(picked, "test/verification_accuracy")
        chance = _numbers(picked, "test/chance_verification_accuracy")
        spread = _numbers(picked, "test/identity_spread")
        measured = np.isfinite(accuracy) & np.isfinite(chance)
        if not measured.any():
            rows.append({"family": name, "gain": math.nan, "gain_low": math.nan, "gain_high": math.nan, "n": 0,
                         "spread": math.nan, "status": "unmeasured"})
            continue
        gain = paired_interval(list(100.0 * (accuracy[measured] - chance[measured])), level)
        mean_spread = float(np.nanmean(spread)) if np.isfinite(spread).any() else math.nan
        if is_reference(picked):
            status = REFERENCE
        elif np.isfinite(mean_spread) and mean_spread < COLLAPSED_BELOW:
            status = "collapsed"
        elif gain["n"] < 2:
            status = "one seed"
        elif gain["low"] > 0:
            status = TRAINED
        else:
            status = "at chance"
        rows.append({"family": name, "gain": gain["difference"], "gain_low": gain["low"], "gain_high": gain["high"], "n": gain["n"],
                     "spread": mean_spread, "status": status})
    return pd.DataFrame(rows, columns=COLUMNS)


def reference_rows(frame: pd.DataFrame) -> pd.Series:
    """Which rows of ``frame`` (trials) are a reference family's: their ``reference`` column (``report.collect``) is 1; none
    in frames written before references existed."""
    if "reference" not in frame:
        return pd.Series(False, index=frame.index)
    return pd.to_numeric(frame["reference"], errors="coerce") == 1


def is_reference(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` (trials of one family) are a reference family's."""
    return bool(reference_rows(rows).any())


def not_trained(status: pd.DataFrame) -> dict[str, str]:
    """The trained families (not references) that are neither "trained" nor "unmeasured", with their status."""
    return {row.family: row.status for row in status.itertuples() if row.status not in (TRAINED, "unmeasured", REFERENCE)}


def not_trained_note(status: pd.DataFrame) -> str | None:
    """The tables' note naming each family that did not learn, with its gain over the chance line and its spread."""
    parts = []
    for row in status.itertuples():
        if row.status in (TRAINED, "unmeasured", REFERENCE):
            continue
        interval = f" [{row.gain_low:+.1f}, {row.gain_high:+.1f}]" if np.isfinite(row.gain_low) else ""
        parts.append(f"{row.family} {row.status}: Table I {row.gain:+.1f}{interval} points over its chance line (n={row.n}), "
                     f"identity spread {row.spread:.2f}")
    if not parts:
        return None
    return ("Not trained (a model that did not learn, so no verdict on its family): " + "; ".join(parts)
            + f". Chance line: one fixed face (the mean training face) for every voice; collapsed: spread below {COLLAPSED_BELOW:g}.")


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
