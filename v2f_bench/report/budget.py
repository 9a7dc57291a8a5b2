"""The equal-budget view: expected best score after n trials, seed statistics, noise-aware rankings.

Pure functions over numpy arrays and pandas frames; nothing here reads experiment directories.

* ``expected_max`` - Dodge et al. 2019 ("Show Your Work"): the expected best validation score of a
  search that draws n trials from the empirical distribution of the trials actually run, for
  n = 1..n_max. ``expected_max_bootstrap`` adds a percentile bootstrap band, and
  ``expected_max_vs_time`` puts the same curve on a compute axis (n * mean trial time), so a family
  whose trials are slower is compared per unit of compute (Lucic et al. 2018: same budget per family).
  ``expected_max_table`` builds the tidy per-family frame a report plots.
* ``seed_summary`` - mean over training seeds with a t-based interval, plus median and quartiles
  (retraining with a new seed moves GAN scores more than resampling one model, so error bars are
  over seeds).
* ``compare_pair`` / ``rank_families`` - bootstrap the difference between two families and rank
  families, saying which gaps are within noise; with seeds that pair up across families (a comparison
  runs every family on the same seeds, voice stage, judge and split), ``paired_interval`` /
  ``paired_differences`` give the paired Student-t interval of the mean per-seed difference.

Inputs are 1-d sequences of finite numbers (NaN or inf raise ``ValueError``: failed trials must be
filtered and counted by the caller, never silently scored). ``higher_is_better=False`` mirrors every
statement: "maximum" becomes "minimum", "best" is the lowest value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "expected_max",
    "expected_max_bootstrap",
    "expected_max_vs_time",
    "expected_max_table",
    "seed_summary",
    "compare_pair",
    "rank_families",
    "paired_interval",
    "paired_differences",
]


# --------------------------------------------------------------------------- helpers


def _values(x, name: str = "scores", min_len: int = 1) -> np.ndarray:
    """A 1-d float64 copy of ``x``; refuses NaN/inf and fewer than ``min_len`` values."""
    arr = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} value(s), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite value(s); drop failed trials before scoring them")
    return arr.copy()


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    return level


def _n_max(n_max, default: int) -> int:
    if n_max is None:
        return default
    if isinstance(n_max, bool) or int(n_max) != n_max or int(n_max) < 1:
        raise ValueError(f"n_max must be a positive integer, got {n_max!r}")
    return int(n_max)


def _max_weights(size: int, n_max: int) -> np.ndarray:
    """W[n-1, i-1] = (i/N)^n - ((i-1)/N)^n: P(the maximum of n draws is the i-th smallest of N).

    Each row sums to 1 (it telescopes to (N/N)^n - 0). Shape (n_max, N).
    """
    i = np.arange(1, size + 1, dtype=np.float64)
    n = np.arange(1, n_max + 1, dtype=np.float64)[:, None]
    return (i / size) ** n - ((i - 1) / size) ** n


def _oriented_sorted(arr: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Sorted so that the best value comes last: ascending for maxima, descending for minima.

    The best-last order lets one weight matrix serve both directions: the expected minimum of n
    draws is -E[max_n(-v)], i.e. the same weights applied to the values sorted descending.
    """
    s = np.sort(arr, axis=-1)
    return s if higher_is_better else s[..., ::-1]


def _percentile_band(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    lo_q, hi_q = 100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0
    return np.percentile(samples, lo_q, axis=0), np.percentile(samples, hi_q, axis=0)


# --------------------------------------------------------------------------- expected maximum


def expected_max(scores: Sequence[float], n_max: int | None = None, higher_is_better: bool = True) -> np.ndarray:
    """Expected best score of n trials drawn from the observed trials, for n = 1..n_max.

    Dodge et al. 2019: with the N observed scores sorted v_(1) <= ... <= v_(N), the maximum of n
    i.i.d. draws with replacement from their empirical distribution has P(max <= v_(i)) = (i/N)^n, so

        E[max_n] = sum_{i=1..N} v_(i) * ((i/N)^n - ((i-1)/N)^n).

    Returns an array of length ``n_max`` (default N; n_max > N is allowed, the draws are with
    replacement) whose element ``n - 1`` is E[max_n]. n = 1 gives the mean of the scores; as
    n -> infinity the curve tends to max(scores); it is non-decreasing in n. Ties need no special
    care: tied values occupy consecutive i and their weights add up to the probability of that value.

    ``higher_is_better=False`` returns the expected *minimum* E[min_n] = -E[max_n(-v)] (the same
    formula with the scores sorted descending), which is non-increasing in n and tends to min(scores).
    """
    arr = _values(scores)
    n_max = _n_max(n_max, arr.size)
    return _max_weights(arr.size, n_max) @ _oriented_sorted(arr, higher_is_better)


def expected_max_bootstrap(
    scores: Sequence[float],
    n_max: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    higher_is_better: bool = True,
) -> dict[str, np.ndarray]:
    """``expected_max`` with a percentile bootstrap band.

    The N scores are resampled with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``,
    so the result is deterministic for a seed); ``expected_max`` is applied to each resample
    (weights W[n, i] = (i/N)^n - ((i-1)/N)^n on the sorted resample), and the band at each n is the
    ((1 - level)/2, (1 + level)/2) percentile pair of the n_boot curves (numpy's linear percentile).

    Returns ``n`` (1..n_max, default N), ``estimate`` (``expected_max`` on the observed scores, the
    curve to plot), ``mean`` and ``std`` (mean and standard deviation of the bootstrap curves),
    ``low`` and ``high`` (the band). The band reflects how much the curve depends on which trials
    happened to be run; it is zero-width when all scores are equal. At n far above N it narrows
    towards the spread of the sample's best value, which is all that N trials can say about it.
    """
    arr = _values(scores)
    level = _check_level(level)
    n_max = _n_max(n_max, arr.size)
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    resamples = arr[rng.integers(0, arr.size, size=(int(n_boot), arr.size))]
    weights = _max_weights(arr.size, n_max)
    curves = _oriented_sorted(resamples, higher_is_better) @ weights.T  # (n_boot, n_max)
    low, high = _percentile_band(curves, level)
    return {
        "n": np.arange(1, n_max + 1),
        "estimate": weights @ _oriented_sorted(arr, higher_is_better),
        "mean": curves.mean(axis=0),
        "std": curves.std(axis=0, ddof=1) if n_boot > 1 else np.zeros(n_max),
        "low": low,
        "high": high,
    }


def expected_max_vs_time(
    scores: Sequence[float],
    times: Sequence[float],
    n_max: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    higher_is_better: bool = True,
) -> dict[str, np.ndarray]:
    """The expected-max curve against the expected compute of n trials instead of against n.

    ``scores[k]`` and ``times[k]`` belong to the same trial (times in any unit, e.g. seconds or
    GPU-seconds; all > 0). A search of n trials drawn from the observed ones costs, in expectation,

        T(n) = n * mean(times)

    (linearity of expectation: this holds whatever the correlation between a trial's score and its
    duration, e.g. early-stopped trials being both cheap and poor). Each point (T(n), E[max_n]) says
    "with this much compute, this family's expected best is ...", so a family whose trials take twice
    as long reaches the same n at twice the compute, and families are compared per unit of compute
    by reading the curves at the same T. The time is sequential compute (trial-seconds summed); with
    c concurrent trials the wall-clock is about T(n) / c.

    Returns the keys of ``expected_max_bootstrap`` (band over resampled scores, the time axis held at
    the observed mean) plus ``time`` = T(n) and ``mean_time`` = mean(times).
    """
    score_arr = _values(scores)
    time_arr = _values(times, "times")
    if time_arr.size != score_arr.size:
        raise ValueError(f"scores and times must pair up trial by trial: {score_arr.size} scores, {time_arr.size} times")
    if np.any(time_arr <= 0):
        raise ValueError("times must be positive")
    out = expected_max_bootstrap(score_arr, n_max, n_boot, seed, level, higher_is_better)
    mean_time = float(time_arr.mean())
    out["time"] = out["n"] * mean_time
    out["mean_time"] = np.float64(mean_time)
    return out


def expected_max_table(
    frame: pd.DataFrame,
    value_col: str,
    family_col: str = "family",
    time_col: str | None = None,
    n_max: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """A tidy frame of expected-max curves, one row per (family, n), ready to plot.

    ``frame`` has one row per trial. Rows whose value (or time) is missing are dropped: they are
    failed trials, which the caller counts separately. ``n_max`` defaults to the smallest number of
    scored trials of any family, the budget all families actually had (an equal-budget curve is not
    extrapolated past what the smallest search ran; pass a larger n_max to do so knowingly).

    Columns: family, n, estimate, mean, low, high, n_trials, and time (T(n) = n * mean trial time)
    when ``time_col`` is given. Each family's band uses the same ``seed``.
    """
    cols = [family_col, value_col] + ([time_col] if time_col else [])
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}")
    data = frame[cols].dropna()
    if data.empty:
        raise ValueError(f"no rows with a value in {value_col!r}")
    groups = {fam: g for fam, g in data.groupby(family_col, sort=True)}
    budget = _n_max(n_max, min(len(g) for g in groups.values()))
    parts = []
    for fam, g in groups.items():
        if time_col:
            curve = expected_max_vs_time(g[value_col], g[time_col], budget, n_boot, seed, level, higher_is_better)
        else:
            curve = expected_max_bootstrap(g[value_col], budget, n_boot, seed, level, higher_is_better)
        part = pd.DataFrame({k: curve[k] for k in ("n", "estimate", "mean", "low", "high")})
        if time_col:
            part["time"] = curve["time"]
        part.insert(0, family_col, fam)
        part["n_trials"] = len(g)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- seeds


def seed_summary(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean over seeds with a Student-t interval, and median with quartiles.

    With n values x_1..x_n (one per training seed):

        mean = sum x_k / n,   std = sqrt(sum (x_k - mean)^2 / (n - 1)),   sem = std / sqrt(n),
        low, high = mean -/+ t_{(1 + level)/2, n - 1} * sem        (scipy.stats.t.ppf)

    median, q1 and q3 are numpy's linear-interpolation 50th, 25th and 75th percentiles.
    With n = 1 there is no spread to estimate: std, sem, low and high are NaN (the mean, median and
    quartiles equal the single value). Returns a dict of floats plus ``n`` (int).
    """
    arr = _values(values, "values")
    level = _check_level(level)
    n = arr.size
    mean = float(arr.mean())
    q1, median, q3 = (float(q) for q in np.percentile(arr, [25.0, 50.0, 75.0]))
    if n > 1:
        std = float(arr.std(ddof=1))
        sem = std / np.sqrt(n)
        half = float(stats.t.ppf((1.0 + level) / 2.0, n - 1)) * sem
        low, high = mean - half, mean + half
    else:
        std = sem = low = high = float("nan")
    return {
        "mean": mean,
        "std": std,
        "sem": float(sem),
        "low": float(low),
        "high": float(high),
        "n": int(n),
        "median": median,
        "q1": q1,
        "q3": q3,
    }


# --------------------------------------------------------------------------- comparison


def compare_pair(
    a_scores: Sequence[float],
    b_scores: Sequence[float],
    higher_is_better: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    statistic: Literal["mean", "expected_max"] = "mean",
    method: Literal["bootstrap", "welch", "paired"] = "bootstrap",
) -> dict:
    """Is family A's score different from family B's, beyond noise?

    ``difference`` = S(a) - S(b), always A minus B (not oriented by the metric's direction), where S is

    * ``"mean"``: the mean of the values (e.g. one value per seed);
    * ``"expected_max"``: E[max_n] (E[min_n] when lower is better) at the common budget
      n = min(len(a), len(b)), so a family with more trials gets no advantage.

    ``method="bootstrap"`` (default): a and b are resampled independently with replacement, each at
    its own size, ``n_boot`` times (``numpy.random.default_rng(seed)``); the interval is the
    ((1 - level)/2, (1 + level)/2) percentile pair of the n_boot differences. ``method="welch"``
    (statistic ``"mean"`` only): Welch's unequal-variance t interval for the difference of means,
    wider than the percentile bootstrap with very few seeds, where the bootstrap is too narrow
    (it uses normal-like quantiles and the plug-in variance, ddof = 0). ``method="paired"`` (statistic
    ``"mean"`` only): a[k] and b[k] belong to the same pair (the same training seed, data split and judge);
    the interval is the Student-t interval of the mean of the per-pair differences d_k = a[k] - b[k]
    (``paired_interval``), which removes the seed-to-seed variation the two families share.

    ``within_noise`` is True when the interval contains 0 (low <= 0 <= high). With fewer than two
    values on either side no noise estimate exists: low and high are NaN and ``within_noise`` is
    True, so a difference is never called significant on one run per family. ``better`` names the
    better family ("a" or "b") when the difference is outside noise, else None.
    """
    a = _values(a_scores, "a_scores")
    b = _values(b_scores, "b_scores")
    level = _check_level(level)
    if statistic not in ("mean", "expected_max"):
        raise ValueError(f"statistic must be 'mean' or 'expected_max', got {statistic!r}")
    if method not in ("bootstrap", "welch", "paired"):
        raise ValueError(f"method must be 'bootstrap', 'welch' or 'paired', got {method!r}")
    if method in ("welch", "paired") and statistic != "mean":
        raise ValueError(f"method={method!r} compares means; use the bootstrap for statistic='expected_max'")
    if method == "paired" and a.size != b.size:
        raise ValueError(f"method='paired' needs one value per pair on both sides: {a.size} and {b.size} values")
    budget = min(a.size, b.size)

    if statistic == "mean":
        def stat(x: np.ndarray) -> np.ndarray:
            return x.mean(axis=-1)
    else:
        def stat(x: np.ndarray) -> np.ndarray:
            w = _max_weights(x.shape[-1], budget)[-1]
            return _oriented_sorted(x, higher_is_better) @ w

    difference = float(stat(a) - stat(b))
    low = high = float("nan")
    if a.size >= 2 and b.size >= 2:
        if method == "paired":
            paired = paired_interval(a - b, level)
            low, high = paired["low"], paired["high"]
        elif method == "welch":
            ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=level)
            low, high = float(ci.low), float(ci.high)
            if not (np.isfinite(low) and np.isfinite(high)):  # both samples constant: no spread at all
                low = high = difference
        else:
            rng = np.random.default_rng(seed)
            ra = a[rng.integers(0, a.size, size=(int(n_boot), a.size))]
            rb = b[rng.integers(0, b.size, size=(int(n_boot), b.size))]
            lo, hi = _percentile_band(stat(ra) - stat(rb), level)
            low, high = float(lo), float(hi)
    within_noise = bool(not (np.isfinite(low) and np.isfinite(high)) or (low <= 0.0 <= high))
    better = None
    if not within_noise:
        a_better = difference > 0 if higher_is_better else difference < 0
        better = "a" if a_better else "b"
    return {
        "difference": difference,
        "low": low,
        "high": high,
        "within_noise": within_noise,
        "better": better,
        "statistic": statistic,
        "method": method,
        "budget": int(budget) if statistic == "expected_max" else None,
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def paired_interval(differences: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean of paired differences d_k = a_k - b_k with its Student-t interval (the paired t-interval).

    With n pairs: mean = sum d_k / n, sd = sqrt(sum (d_k - mean)^2 / (n - 1)),
    low, high = mean -/+ t_{(1 + level)/2, n - 1} * sd / sqrt(n) (``seed_summary`` on the differences).
    Returns ``difference`` (the mean), ``low``, ``high``, ``n`` (pairs). With one pair there is no
    interval (NaN); when every pair differs by the same amount the interval is that single point.
    """
    summary = seed_summary(differences, level)
    low, high = summary["low"], summary["high"]
    if summary["n"] > 1 and not (np.isfinite(low) and np.isfinite(high)):
        low = high = summary["mean"]
    return {"difference": summary["mean"], "low": low, "high": high, "n": summary["n"]}


def paired_differences(
    frame: pd.DataFrame,
    value_col: str,
    family_col: str = "family",
    pair_col: str = "seed",
    higher_is_better: bool = True,
    level: float = 0.95,
    families: Sequence | None = None,
) -> pd.DataFrame:
    """For every pair of families (A before B in ``families``), the mean paired difference A - B over common pairs.

    ``frame`` has one row per (family, pair) with the value in ``value_col``; rows with a missing value are
    dropped. A and B are paired on ``pair_col`` (the seed index of a comparison, which shares voice stage,
    judge and data split): only pairs both have count. Columns: ``a``, ``b``, ``difference`` (mean of
    a_k - b_k, not oriented by direction), ``low``, ``high`` (``paired_interval``, NaN with fewer than two
    pairs), ``n_pairs``, ``pairs`` (the pair keys, joined by ","), ``higher_is_better``, ``within_noise``
    (the interval contains 0, or there is none) and ``better`` (the better family's name, None within noise). ``families`` defaults to the
    families in the frame, sorted.
    """
    missing = [c for c in (family_col, value_col, pair_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}")
    data = frame.assign(_v=pd.to_numeric(frame[value_col], errors="coerce")).dropna(subset=["_v"])
    by_family = {fam: g.drop_duplicates(pair_col).set_index(pair_col)["_v"] for fam, g in data.groupby(family_col, sort=True)}
    order = [f for f in (families if families is not None else sorted(by_family)) if f in by_family]
    rows = []
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            common = sorted(set(by_family[a].index) & set(by_family[b].index))
            diffs = (by_family[a].loc[common] - by_family[b].loc[common]).to_numpy(dtype=float)
            res = paired_interval(diffs, level) if diffs.size else {"difference": np.nan, "low": np.nan, "high": np.nan, "n": 0}
            within = bool(not (np.isfinite(res["low"]) and np.isfinite(res["high"])) or res["low"] <= 0.0 <= res["high"])
            better = None if within else (a if (res["difference"] > 0) == higher_is_better else b)
            rows.append({"a": a, "b": b, "difference": res["difference"], "low": res["low"], "high": res["high"], "n_pairs": res["n"],
                         "pairs": ",".join(map(str, common)), "higher_is_better": higher_is_better, "within_noise": within, "better": better})
    return pd.DataFrame(rows, columns=["a", "b", "difference", "low", "high", "n_pairs", "pairs", "higher_is_better", "within_noise", "better"])


def rank_families(
    frame: pd.DataFrame,
    value_col: str,
    family_col: str = "family",
    higher_is_better: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    method: Literal["bootstrap", "welch"] = "bootstrap",
    paired: bool = False,
    pair_col: str = "seed",
) -> pd.DataFrame:
    """Families ordered best first by their mean, with intervals and which gaps are within noise.

    ``frame`` has one row per (family, seed) with the value in ``value_col``; rows with a missing
    value are dropped (counted in ``n_missing``). Families are sorted by mean, descending when
    higher is better, ascending otherwise (exact ties broken by family name). Columns:

    * ``rank``: 1, 2, 3, ... in that order;
    * ``mean``, ``std``, ``sem``, ``low``, ``high``, ``median``, ``q1``, ``q3``, ``n``: ``seed_summary``;
    * ``gap_to_next``: mean of this family minus mean of the next one down (NaN for the last);
      ``next_within_noise``: ``compare_pair(this, next)["within_noise"]`` (None for the last);
    * ``best_within_noise``: whether ``compare_pair(best, this)`` is within noise (True for the best);
    * ``group`` and ``label`` - the tie rule: walking down the order, a family joins the group of the
      family just above it when that adjacent gap is within noise, otherwise it starts a new group.
      ``group`` is the rank of the group's first member (competition ranking: 1, 1, 3), and ``label``
      is that number followed by "=" when the group has more than one member ("1=", "1=", "3").
      Grouping chains through adjacent pairs, so A~B and B~C put A, B, C in one group even when A and
      C differ; ``best_within_noise`` says which families are indistinguishable from the top one.

    All pairwise comparisons use ``compare_pair(..., statistic="mean", method=method, seed=seed)``; with
    ``paired=True`` they use ``method="paired"`` instead, on the values of the two families at the ``pair_col``
    keys both have (a comparison's seeds pair up across families), and ``method`` is not used; ``gap_to_next``
    is then the mean paired difference over those keys (the difference of means when all seeds pair up).
    Means and intervals per family stay over all its seeds.
    """
    missing = [c for c in (family_col, value_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}")
    if paired and pair_col not in frame.columns:
        raise ValueError(f"frame has no column {pair_col!r} to pair families on")
    samples: dict = {}
    n_missing: dict = {}
    for fam, g in frame.groupby(family_col, sort=True):
        vals = pd.Series(pd.to_numeric(g[value_col], errors="coerce").to_numpy(dtype=np.float64),
                         index=g[pair_col].to_numpy() if paired else None)
        kept = vals[np.isfinite(vals)]
        n_missing[fam] = int(vals.size - kept.size)
        if kept.size:
            samples[fam] = kept
    if not samples:
        raise ValueError(f"no family has a value in {value_col!r}")

    rows = []
    for fam, vals in samples.items():
        rows.append({"family": fam, **seed_summary(vals.to_numpy(), level), "n_missing": n_missing[fam]})
    table = pd.DataFrame(rows)
    table["_key"] = -table["mean"] if higher_is_better else table["mean"]
    table = table.sort_values(["_key", "family"], kind="stable").drop(columns="_key").reset_index(drop=True)
    families = list(table["family"])

    def compare(x, y) -> dict:
        if not paired:
            return compare_pair(samples[x].to_numpy(), samples[y].to_numpy(), higher_is_better, n_boot, seed, level, "mean", method)
        common = sorted(set(samples[x].index) & set(samples[y].index))
        if not common:
            return {"difference": float("nan"), "within_noise": True}
        return compare_pair(samples[x].loc[common].to_numpy(), samples[y].loc[common].to_numpy(), higher_is_better, n_boot, seed, level,
                            "mean", "paired")

    gaps, next_noise, best_noise, groups = [], [], [], []
    for k, fam in enumerate(families):
        if k + 1 < len(families):
            res = compare(fam, families[k + 1])
            gaps.append(res["difference"])
            next_noise.append(res["within_noise"])
        else:
            gaps.append(float("nan"))
            next_noise.append(None)
        best_noise.append(True if k == 0 else compare(families[0], fam)["within_noise"])
        groups.append(groups[-1] if k > 0 and next_noise[k - 1] else k + 1)
    sizes = pd.Series(groups).value_counts()
    table.insert(1, "rank", np.arange(1, len(families) + 1))
    table.insert(2, "group", groups)
    table.insert(3, "label", [f"{g}=" if sizes[g] > 1 else str(g) for g in groups])
    table["gap_to_next"] = gaps
    table["next_within_noise"] = pd.Series(next_noise, dtype=object)
    table["best_within_noise"] = best_noise
    return table.rename(columns={"family": family_col})
