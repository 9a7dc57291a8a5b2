"""The report's aggregations over searches take the metric and its direction from the search records."""

from __future__ import annotations

import pandas as pd
import pytest

from v2f_bench.errors import UserError
from v2f_bench.report.build import _budget_sections, search_objective


def searches(mode: str, metric: str = "val_mae") -> pd.DataFrame:
    """Two families x three seeds x two trials; family "low" has the lower values throughout."""
    rows = []
    for family, base in (("low", 0.10), ("high", 0.30)):
        for seed in range(3):
            for trial in range(2):
                rows.append({"target": family, "seed": seed, "status": "completed", "best_val": base + 0.01 * seed + 0.002 * trial,
                             "time_s": 10.0, "metric": metric, "mode": mode, "trial_number": trial})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("mode", "best_first", "word"),
    [pytest.param("min", "low", "lowest", id="mode-min-ranks-lowest-first"), pytest.param("max", "high", "best", id="mode-max-ranks-highest-first")],
)
def test_the_ranking_and_expected_best_follow_the_recorded_direction(tmp_path, mode, best_first, word):
    sections = _budget_sections(searches(mode), tmp_path)
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert ranking["target"].iloc[0] == best_first
    curve = pd.read_csv(tmp_path / "budget.csv")
    one, two = (curve[(curve["target"] == "low") & (curve["n"] == n)]["estimate"].iloc[0] for n in (1, 2))
    assert (two < one) if mode == "min" else (two > one), "more trials can only improve the expected best in its own direction"
    assert f"Expected {word} val_mae" in sections[0].note


def test_searches_of_different_objectives_are_not_ranked_together():
    mixed = pd.concat([searches("min"), searches("max", "val_psnr")])
    with pytest.raises(UserError, match="different objectives"):
        search_objective(mixed)
