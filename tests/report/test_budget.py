"""The equal-budget view: expected maximum after n trials (Dodge et al. 2019), seed intervals, rankings.

Every expected-max case here is worked out by hand or by enumerating all N^n equally likely draws.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from v2f_bench.report.budget import (
    compare_pair,
    expected_max,
    expected_max_bootstrap,
    expected_max_table,
    expected_max_vs_time,
    paired_differences,
    rank_families,
    seed_summary,
)


def enumerate_expected_max(scores, n, best=max) -> Fraction:
    """E[best of n draws with replacement], by averaging over all N^n equally likely draws."""
    draws = list(itertools.product([Fraction(s) for s in scores], repeat=n))
    return sum(best(d) for d in draws) / len(draws)


# --------------------------------------------------------------------------- expected_max by hand


@pytest.mark.parametrize(
    ("scores", "n", "expected"),
    [
        pytest.param([1, 2, 3], 1, 2, id="n=1-is-the-mean"),
        # 1*(1/9) + 2*(4/9 - 1/9) + 3*(1 - 4/9) = 1/9 + 6/9 + 15/9
        pytest.param([1, 2, 3], 2, 22 / 9, id="n=2-22/9"),
        # 1*(1/27) + 2*(8/27 - 1/27) + 3*(1 - 8/27) = 1/27 + 14/27 + 57/27
        pytest.param([1, 2, 3], 3, 8 / 3, id="n=3-8/3"),
        pytest.param([3, 1, 2], 2, 22 / 9, id="input-order-irrelevant"),
        # ties: P(max = 3) = 1 - (2/3)^2 = 5/9, otherwise 1: 3*5/9 + 1*4/9
        pytest.param([1, 1, 3], 2, 19 / 9, id="ties-19/9"),
        pytest.param([5, 5, 5, 5], 3, 5, id="constant"),
        pytest.param([0.7], 4, 0.7, id="single-trial"),
    ],
)
def test_expected_max_hand_computed(scores, n, expected):
    curve = expected_max(scores, n_max=n)
    assert curve.shape == (n,)
    assert curve[n - 1] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("scores", "n", "expected"),
    [
        # P(min = 1) = 1 - (2/3)^2 = 5/9, P(min = 2) = (2/3)^2 - (1/3)^2 = 3/9, P(min = 3) = 1/9
        pytest.param([1, 2, 3], 2, 14 / 9, id="min-n=2-14/9"),
        pytest.param([1, 2, 3], 1, 2, id="min-n=1-is-the-mean"),
        # P(min = 3) = (1/3)^2 = 1/9, else 1
        pytest.param([1, 1, 3], 2, 11 / 9, id="min-ties-11/9"),
    ],
)
def test_expected_min_for_lower_is_better(scores, n, expected):
    assert expected_max(scores, n_max=n, higher_is_better=False)[n - 1] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param([0.2, 0.9, 0.4, 0.4], id="with-ties"),
        pytest.param([3, -1, 2.5, 7, 0], id="mixed-signs"),
        pytest.param([1, 2], id="two"),
    ],
)
@pytest.mark.parametrize("higher_is_better", [pytest.param(True, id="max"), pytest.param(False, id="min")])
def test_expected_max_equals_enumeration_of_all_draws(scores, higher_is_better):
    best = max if higher_is_better else min
    curve = expected_max(scores, n_max=4, higher_is_better=higher_is_better)
    for n in range(1, 5):
        assert curve[n - 1] == pytest.approx(float(enumerate_expected_max(scores, n, best)), rel=1e-12)


def test_lower_is_better_mirrors_higher_is_better():
    x = np.random.default_rng(0).normal(size=17)
    np.testing.assert_allclose(expected_max(x, 30, higher_is_better=False), -expected_max(-x, 30), rtol=1e-12)


def test_n_1_is_the_mean_and_large_n_tends_to_the_best():
    x = np.random.default_rng(1).uniform(0.5, 0.9, size=25)
    curve = expected_max(x, n_max=2000)
    assert curve[0] == pytest.approx(x.mean(), rel=1e-12)
    assert curve[-1] == pytest.approx(x.max(), rel=1e-9)
    assert expected_max(x, 2000, higher_is_better=False)[-1] == pytest.approx(x.min(), rel=1e-9)


def test_default_budget_is_the_number_of_trials():
    assert expected_max([0.1, 0.5, 0.3]).shape == (3,)


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(3)])
def test_curve_is_monotone_in_n(seed):
    x = np.random.default_rng(seed).normal(size=12)
    x[:3] = x[3]  # some ties
    assert np.all(np.diff(expected_max(x, 50)) >= -1e-12)  # non-decreasing for maxima
    assert np.all(np.diff(expected_max(x, 50, higher_is_better=False)) <= 1e-12)  # non-increasing for minima


@pytest.mark.parametrize(
    ("scores", "n_max"),
    [
        pytest.param([], None, id="empty"),
        pytest.param([0.5, np.nan], None, id="nan-failed-trial"),
        pytest.param([0.5, np.inf], None, id="inf"),
        pytest.param([[0.5, 0.6]], None, id="two-dimensional"),
        pytest.param([0.5, 0.6], 0, id="n_max-zero"),
        pytest.param([0.5, 0.6], 2.5, id="n_max-fractional"),
    ],
)
def test_expected_max_refuses_bad_input(scores, n_max):
    with pytest.raises(ValueError):
        expected_max(scores, n_max)


# --------------------------------------------------------------------------- bootstrap and time


@pytest.mark.parametrize("higher_is_better", [pytest.param(True, id="max"), pytest.param(False, id="min")])
def test_bootstrap_band_contains_the_estimate(higher_is_better):
    x = np.random.default_rng(2).normal(0.8, 0.05, size=30)
    band = expected_max_bootstrap(x, n_max=30, n_boot=500, seed=3, higher_is_better=higher_is_better)
    np.testing.assert_array_equal(band["n"], np.arange(1, 31))
    np.testing.assert_allclose(band["estimate"], expected_max(x, 30, higher_is_better=higher_is_better))
    for key in ("mean", "std", "low", "high"):
        assert band[key].shape == (30,)
    assert np.all(band["low"] <= band["estimate"]) and np.all(band["estimate"] <= band["high"])
    assert np.all(band["low"] < band["high"])


def test_bootstrap_is_deterministic_for_a_seed():
    x = np.random.default_rng(4).normal(size=15)
    first, again = expected_max_bootstrap(x, 10, n_boot=200, seed=7), expected_max_bootstrap(x, 10, n_boot=200, seed=7)
    other = expected_max_bootstrap(x, 10, n_boot=200, seed=8)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["low"], other["low"])


def test_bootstrap_band_of_equal_scores_has_zero_width():
    band = expected_max_bootstrap([0.6] * 5, 8, n_boot=50)
    np.testing.assert_allclose(band["low"], 0.6)
    np.testing.assert_allclose(band["high"], 0.6)


def test_bootstrap_level_widens_the_band():
    x = np.random.default_rng(5).normal(size=20)
    narrow = expected_max_bootstrap(x, 5, n_boot=400, level=0.5)
    wide = expected_max_bootstrap(x, 5, n_boot=400, level=0.99)
    assert np.all(wide["high"] - wide["low"] > narrow["high"] - narrow["low"])


def test_vs_time_puts_n_trials_at_n_times_the_mean_trial_time():
    scores, times = [0.2, 0.5, 0.4, 0.9], [10.0, 30.0, 20.0, 40.0]  # mean trial time 25 s
    curve = expected_max_vs_time(scores, times, n_max=6, n_boot=100)
    np.testing.assert_allclose(curve["time"], 25.0 * np.arange(1, 7))
    assert curve["mean_time"] == pytest.approx(25.0)
    np.testing.assert_allclose(curve["estimate"], expected_max(scores, 6))


def test_vs_time_a_slower_family_needs_more_compute_for_the_same_curve():
    scores = [0.2, 0.5, 0.4, 0.9]
    fast = expected_max_vs_time(scores, [1.0] * 4, n_boot=10)
    slow = expected_max_vs_time(scores, [2.0] * 4, n_boot=10)
    np.testing.assert_allclose(slow["estimate"], fast["estimate"])
    np.testing.assert_allclose(slow["time"], 2 * fast["time"])


@pytest.mark.parametrize(
    "times",
    [pytest.param([1.0, 2.0], id="length-mismatch"), pytest.param([1.0, 0.0, 2.0], id="zero-time")],
)
def test_vs_time_refuses_bad_times(times):
    with pytest.raises(ValueError):
        expected_max_vs_time([0.1, 0.2, 0.3], times)


def test_expected_max_table_uses_the_smallest_budget_and_drops_failed_trials():
    frame = pd.DataFrame(
        {
            "family": ["vae"] * 4 + ["cgan"] * 3,
            "val_acc": [0.1, 0.4, np.nan, 0.3, 0.5, 0.2, 0.6],
            "seconds": [5.0, 5.0, 1.0, 5.0, 10.0, 10.0, 10.0],
        }
    )
    table = expected_max_table(frame, "val_acc", time_col="seconds", n_boot=50)
    assert set(table.columns) >= {"family", "n", "estimate", "mean", "low", "high", "time", "n_trials"}
    assert table.groupby("family")["n"].max().to_dict() == {"cgan": 3, "vae": 3}
    vae = table[table["family"] == "vae"]
    np.testing.assert_allclose(vae["estimate"], expected_max([0.1, 0.4, 0.3]))
    np.testing.assert_allclose(vae["time"], [5.0, 10.0, 15.0])
    assert vae["n_trials"].iloc[0] == 3


# --------------------------------------------------------------------------- seed summaries


@pytest.mark.parametrize(
    ("values", "level"),
    [
        pytest.param([0.61, 0.64, 0.58], 0.95, id="three-seeds"),
        pytest.param([28.1, 28.4, 27.9, 28.6, 28.3], 0.95, id="five-seeds"),
        pytest.param([1.0, 2.0], 0.90, id="two-seeds-90"),
    ],
)
def test_seed_summary_matches_scipy_and_numpy(values, level):
    x = np.asarray(values)
    out = seed_summary(values, level=level)
    sem = stats.sem(x)
    low, high = stats.t.interval(level, len(x) - 1, loc=x.mean(), scale=sem)
    assert out["n"] == len(x)
    assert out["mean"] == pytest.approx(x.mean())
    assert out["std"] == pytest.approx(x.std(ddof=1))
    assert out["sem"] == pytest.approx(sem)
    assert (out["low"], out["high"]) == (pytest.approx(low), pytest.approx(high))
    assert out["median"] == pytest.approx(np.median(x))
    assert (out["q1"], out["q3"]) == (pytest.approx(np.percentile(x, 25)), pytest.approx(np.percentile(x, 75)))


def test_seed_summary_hand_computed():
    # mean 2, std 1, sem 1/sqrt(3), t_{0.975, 2} = 4.302652729911275
    out = seed_summary([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3)
    assert out["low"] == pytest.approx(2 - half) and out["high"] == pytest.approx(2 + half)


def test_seed_summary_with_one_seed_has_no_interval():
    out = seed_summary([0.73])
    assert out["mean"] == out["median"] == out["q1"] == out["q3"] == 0.73
    assert out["n"] == 1
    assert all(np.isnan(out[k]) for k in ("std", "sem", "low", "high"))


# --------------------------------------------------------------------------- pairs and rankings


SEPARATED = (np.random.default_rng(10).normal(0.80, 0.01, 6), np.random.default_rng(11).normal(0.60, 0.01, 6))


@pytest.mark.parametrize(
    ("statistic", "method"),
    [
        pytest.param("mean", "bootstrap", id="mean-bootstrap"),
        pytest.param("mean", "welch", id="mean-welch"),
        pytest.param("expected_max", "bootstrap", id="expected-max-bootstrap"),
    ],
)
def test_compare_pair_flags_clearly_separated_families(statistic, method):
    a, b = SEPARATED
    res = compare_pair(a, b, statistic=statistic, method=method)
    assert res["difference"] == pytest.approx(0.2, abs=0.03)
    assert 0 < res["low"] <= res["difference"] <= res["high"]
    assert not res["within_noise"] and res["better"] == "a"
    # lower-is-better: the same gap makes b the better family
    assert compare_pair(a, b, higher_is_better=False, statistic=statistic, method=method)["better"] == "b"


@pytest.mark.parametrize("statistic", [pytest.param("mean", id="mean"), pytest.param("expected_max", id="expected-max")])
def test_compare_pair_identical_distributions_are_within_noise(statistic):
    rng = np.random.default_rng(12)
    a, b = rng.normal(0.7, 0.05, 8), rng.normal(0.7, 0.05, 8)
    res = compare_pair(a, b, statistic=statistic)
    assert res["low"] <= 0 <= res["high"]
    assert res["within_noise"] and res["better"] is None
    same = compare_pair(a, a, statistic=statistic)
    assert same["difference"] == 0 and same["within_noise"]


def test_compare_pair_expected_max_uses_the_common_budget():
    a, b = [0.1, 0.2, 0.3, 0.4, 0.5, 0.9], [0.3, 0.35, 0.4]
    res = compare_pair(a, b, statistic="expected_max", n_boot=100)
    assert res["budget"] == 3
    assert res["difference"] == pytest.approx(expected_max(a, 3)[-1] - expected_max(b, 3)[-1])


def test_compare_pair_refuses_welch_for_expected_max():
    with pytest.raises(ValueError):
        compare_pair(*SEPARATED, statistic="expected_max", method="welch")


def test_compare_pair_is_deterministic_for_a_seed():
    a, b = SEPARATED
    assert compare_pair(a, b, seed=5) == compare_pair(a, b, seed=5)


def test_compare_pair_needs_two_values_a_side_to_call_a_difference():
    res = compare_pair([0.9], [0.1, 0.12, 0.11])
    assert res["difference"] == pytest.approx(0.9 - 0.11)
    assert np.isnan(res["low"]) and np.isnan(res["high"])
    assert res["within_noise"] and res["better"] is None


def _seed_frame():
    """rcgan (mean 0.80) and cgan (mean 0.79) overlap; vae (0.40) is far below; one vae seed failed."""
    values = {
        "rcgan": [0.78, 0.80, 0.82, 0.79, 0.81],
        "cgan": [0.77, 0.79, 0.81, 0.80, 0.78],
        "vae": [0.40, 0.41, 0.39, 0.42, 0.38, np.nan],
    }
    return pd.DataFrame([(f, v) for f, vs in values.items() for v in vs], columns=["family", "id_acc"])


@pytest.mark.parametrize("method", [pytest.param("bootstrap", id="bootstrap"), pytest.param("welch", id="welch")])
def test_rank_families_orders_by_mean_and_groups_ties_within_noise(method):
    table = rank_families(_seed_frame(), "id_acc", method=method)
    assert list(table["family"]) == ["rcgan", "cgan", "vae"]
    assert list(table["rank"]) == [1, 2, 3]
    assert list(table["group"]) == [1, 1, 3]
    assert list(table["label"]) == ["1=", "1=", "3"]
    assert list(table["next_within_noise"]) == [True, False, None]
    assert list(table["best_within_noise"]) == [True, True, False]
    assert table["mean"].is_monotonic_decreasing
    vae = table.set_index("family").loc["vae"]
    assert (vae["n"], vae["n_missing"]) == (5, 1)
    assert np.all(table["low"] <= table["mean"]) and np.all(table["mean"] <= table["high"])


def test_rank_families_lower_is_better_reverses_the_order():
    frame = pd.DataFrame({"team": ["a"] * 3 + ["b"] * 3, "mse": [0.010, 0.011, 0.012, 0.050, 0.052, 0.051]})
    table = rank_families(frame, "mse", family_col="team", higher_is_better=False)
    assert list(table["team"]) == ["a", "b"]
    assert list(table["label"]) == ["1", "2"]
    assert table["gap_to_next"].iloc[0] == pytest.approx(0.011 - 0.051)


def test_rank_families_refuses_a_frame_without_values():
    with pytest.raises(ValueError):
        rank_families(pd.DataFrame({"family": ["a"], "acc": [np.nan]}), "acc")
    with pytest.raises(ValueError):
        rank_families(pd.DataFrame({"family": ["a"]}), "acc")


# --------------------------------------------------------------------------- paired comparisons


SHARED_SEED_EFFECT = np.array([0.0, 10.0, -8.0, 4.0, -6.0])
"""A seed effect both families share (same voice stage, judge and split per seed): large against the family gap."""


def paired_frame(gap: float = 1.0, jitter=(0.1, -0.1, 0.05, -0.05, 0.0)) -> pd.DataFrame:
    rows = []
    for seed, shared in enumerate(SHARED_SEED_EFFECT):
        rows.append({"family": "a", "seed": seed, "v": 50.0 + shared + gap + jitter[seed]})
        rows.append({"family": "b", "seed": seed, "v": 50.0 + shared})
    return pd.DataFrame(rows)


def test_paired_interval_is_the_t_interval_of_the_differences():
    d = np.array([1.0, 2.0, 4.0])
    res = compare_pair(d + 10.0, np.full(3, 10.0), method="paired")
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert res["difference"] == pytest.approx(d.mean())
    assert (res["low"], res["high"]) == pytest.approx((d.mean() - half, d.mean() + half))


def test_pairing_on_seeds_separates_what_the_unpaired_test_calls_noise():
    frame = paired_frame()
    a, b = (frame[frame["family"] == f]["v"].to_numpy() for f in ("a", "b"))
    assert compare_pair(a, b, method="welch")["within_noise"], "the shared seed effect swamps the gap without pairing"
    assert not compare_pair(a, b, method="paired")["within_noise"]
    unpaired = rank_families(frame, "v", method="welch")
    paired = rank_families(frame, "v", paired=True)
    assert list(unpaired["label"]) == ["1=", "1="], "the old unpaired behaviour is kept"
    assert list(paired["label"]) == ["1", "2"] and paired["family"].iloc[0] == "a"


def test_paired_differences_pair_by_seed_not_by_position():
    frame = paired_frame().sample(frac=1.0, random_state=3)  # shuffled rows: pairing must follow the seed column
    frame = frame[~((frame["family"] == "b") & (frame["seed"] == 4))]  # b lacks seed 4: four pairs remain
    table = paired_differences(frame, "v", families=["b", "a"], higher_is_better=True)
    row = table.iloc[0]
    assert (row["a"], row["b"], row["n_pairs"], row["pairs"]) == ("b", "a", 4, "0,1,2,3")
    assert row["difference"] == pytest.approx(-1.0) and row["high"] < 0 and row["better"] == "a"


@pytest.mark.parametrize(
    ("higher", "better"), [pytest.param(True, "a", id="higher-is-better"), pytest.param(False, "b", id="lower-is-better")],
)
def test_paired_differences_name_the_better_family_by_direction(higher, better):
    row = paired_differences(paired_frame(), "v", higher_is_better=higher).iloc[0]
    assert row["better"] == better and not row["within_noise"]


def test_one_pair_gives_no_interval():
    row = paired_differences(paired_frame()[lambda f: f["seed"] == 0], "v").iloc[0]
    assert row["n_pairs"] == 1 and np.isnan(row["low"]) and row["within_noise"] and row["better"] is None


def test_paired_needs_equal_lengths():
    with pytest.raises(ValueError, match="one value per pair"):
        compare_pair([1.0, 2.0], [1.0, 2.0, 3.0], method="paired")
