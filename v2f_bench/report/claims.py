"""The paper's claims, each checked against our numbers: reproduced, contradicted or undecided, by a stated rule.

Generated from data, never typed in: the paper's values come from ``tables.PAPER`` / ``tables.PAPER_JUDGE``,
ours from the trials frame (``tables.paired_comparisons``: per-seed paired differences between families) and
from the judge stage's test verification (accuracy over ``n_pairs`` real test pairs).

Each claim compares an interval [low, high] with the claim, by one of three rules:

* ``greater`` ("A is better than B"): on the difference oriented so that positive means A is better
  (A - B when the metric is higher-is-better in ``metrics.METRICS``, B - A otherwise): reproduced when
  low > 0, contradicted when high < 0, undecided when the interval contains 0;
* ``at_least`` ("the value is at least x"): reproduced when low >= x, contradicted when high < x,
  undecided otherwise;
* ``about`` ("A beats B by about d"): reproduced when the interval lies inside [d - tol, d + tol],
  contradicted when it lies wholly outside it, undecided otherwise.

A claim over several comparisons (RC-GAN above every other family) is reproduced when every comparison is,
contradicted when any is, undecided otherwise. Without an interval (fewer than two paired seeds, or a family
missing from the data) the verdict is undecided and the reason says why. A claim that involves a family that did
not learn (``training_status``: at chance or collapsed) is undecided too, "not trained", never contradicted. Intervals over seeds are 95 % paired
Student-t intervals of the mean per-seed difference; the judge's is a 95 % Wilson score interval over its test
pairs (there is one judge, so there are no seeds to vary).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from v2f_bench.metrics import METRICS
from v2f_bench.report.tables import LEVEL, PAPER, PAPER_DECIMALS, PAPER_JUDGE, best_per_search, families, paired_comparisons
from v2f_bench.report.training_status import is_reference, not_trained, training_status

__all__ = ["ABOUT_TOLERANCE", "VERDICTS", "verdict", "wilson_interval", "claims_table", "render_claims", "write_claims"]

VERDICTS = ("reproduced", "contradicted", "undecided")
ABOUT_TOLERANCE = 5.0
"""Half-width of the band, in percentage points, within which "beats by about d points" counts as reproduced."""
COLUMNS = ["claim", "paper", "ours", "low", "high", "n", "rule", "verdict", "reason"]


def verdict(rule: str, low: float, high: float, target: float = 0.0, tol: float = 0.0) -> str:
    """The verdict of one interval [low, high] under ``rule`` ("greater", "at_least" or "about"); see the module.

    ``target`` is x for ``at_least`` and d for ``about`` (``greater`` compares with 0); ``tol`` is the
    half-width of the ``about`` band. A missing bound (NaN) gives "undecided".
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undecided"
    if rule == "greater":
        return "reproduced" if low > 0 else "contradicted" if high < 0 else "undecided"
    if rule == "at_least":
        return "reproduced" if low >= target else "contradicted" if high < target else "undecided"
    if rule == "about":
        band_low, band_high = target - tol, target + tol
        if band_low <= low and high <= band_high:
            return "reproduced"
        return "contradicted" if high < band_low or low > band_high else "undecided"
    raise ValueError(f"unknown rule {rule!r}; use greater, at_least or about")


def combined_verdict(verdicts: list[str]) -> str:
    """Every part reproduced -> reproduced; any contradicted -> contradicted; otherwise (or none) undecided."""
    if verdicts and all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "contradicted" if "contradicted" in verdicts else "undecided"


def wilson_interval(accuracy: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion p = accuracy (a fraction) observed over n independent decisions.

    With z = Phi^-1((1 + level) / 2): centre = (p + z^2 / 2n) / (1 + z^2 / n),
    half = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n); returns (centre - half, centre + half),
    a fraction in [0, 1]. NaN for n < 1.
    """
    if n < 1:
        return math.nan, math.nan
    z = float(stats.norm.ppf((1.0 + level) / 2.0))
    denominator = 1.0 + z * z / n
    centre = (accuracy + z * z / (2 * n)) / denominator
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


# --------------------------------------------------------------------------- looking up differences


def _fmt(value: float, metric: str, sign: bool = False) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{value:{'+' if sign else ''}.{PAPER_DECIMALS.get(metric, 3)}f}"


def oriented_difference(paired: pd.DataFrame, metric: str, a: str, b: str) -> dict | None:
    """How much better A is than B on ``metric``: the paired difference oriented by the metric's direction.

    difference = A - B when higher is better, B - A when lower is better (so > 0 always means A is better);
    low and high follow the same orientation. None when the pair is not in ``paired``.
    """
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    for first, second, flip in ((a, b, 1.0), (b, a, -1.0)):
        rows = paired[(paired["metric"] == metric) & (paired["a"] == first) & (paired["b"] == second)] if not paired.empty else paired
        if len(rows):
            row = rows.iloc[0]
            s = sign * flip
            low, high = sorted((s * row["low"], s * row["high"]))
            return {"difference": s * row["difference"], "low": low, "high": high, "n": int(row["n_pairs"])}
    return None


def _paper_gap(metric: str, a: str, b: str) -> float:
    """The paper's A - B on ``metric``, oriented like ``oriented_difference``."""
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    return sign * (PAPER[a][metric] - PAPER[b][metric])


def _comparisons(paired: pd.DataFrame, present: list[str], metric: str, a: str, others: list[str], rule: str, target: float = 0.0,
                 tol: float = 0.0, untrained: dict[str, str] | None = None) -> dict:
    """One claim row over comparisons of A with each of ``others`` on ``metric`` (see the module for the rules).
    A claim that involves a family of ``untrained`` (family -> status, ``training_status.not_trained``) is undecided."""
    missing = [f for f in [a, *others] if f not in present]
    paper = "; ".join(f"vs {b} {_fmt(_paper_gap(metric, a, b), metric, True)}" for b in others if b in PAPER and a in PAPER)
    if missing:
        return {"paper": paper, "ours": "—", "low": math.nan, "high": math.nan, "n": 0, "verdict": "undecided",
                "reason": f"{', '.join(missing)} not in the data"}
    unlearned = {f: (untrained or {})[f] for f in [a, *others] if f in (untrained or {})}
    parts, verdicts, lows, highs, ns = [], [], [], [], []
    for b in others:
        d = oriented_difference(paired, metric, a, b) or {"difference": math.nan, "low": math.nan, "high": math.nan, "n": 0}
        parts.append(f"vs {b} {_fmt(d['difference'], metric, True)} [{_fmt(d['low'], metric)}, {_fmt(d['high'], metric)}] (n={d['n']})")
        verdicts.append(verdict(rule, d["low"], d["high"], target, tol))
        lows.append(d["low"])
        highs.append(d["high"])
        ns.append(d["n"])
    weakest = int(np.nanargmin(lows)) if np.isfinite(lows).any() else 0
    reason = f"fewer than 2 paired seeds (n={min(ns)}): no interval" if min(ns) < 2 else ""
    decided = combined_verdict(verdicts)
    if unlearned:
        decided = "undecided"
        reason = "not trained: " + ", ".join(f"{f} ({status})" for f, status in unlearned.items())
    return {"paper": paper, "ours": "; ".join(parts), "low": lows[weakest], "high": highs[weakest], "n": min(ns),
            "verdict": decided, "reason": reason}


# --------------------------------------------------------------------------- the claims


def _judge_row(judge: dict | None) -> dict:
    paper = PAPER_JUDGE["verification_accuracy"]
    row = {"claim": f"The judge verifies real faces with at least {paper} % accuracy", "paper": f"{paper} %",
           "rule": f"at_least {paper} %: 95 % Wilson interval over the judge's test pairs (one judge, no seeds)"}
    if not judge or not judge.get("n_pairs"):
        return row | {"ours": "—", "low": math.nan, "high": math.nan, "n": 0, "verdict": "undecided", "reason": "no judge stage artifacts"}
    n = int(judge["n_pairs"])
    low, high = (100.0 * v for v in wilson_interval(float(judge["accuracy"]), n))
    ours = 100.0 * float(judge["accuracy"])
    return row | {"ours": f"{ours:.2f} % [{low:.2f}, {high:.2f}] (n={n} test pairs)", "low": low, "high": high, "n": n,
                  "verdict": verdict("at_least", low, high, paper), "reason": ""}


def claims_table(trials: pd.DataFrame, judge: dict | None) -> pd.DataFrame:
    """The claims with the paper's value, ours with its interval and n, the rule and the verdict (columns ``COLUMNS``).

    ``trials`` is ``Collection.trials`` (generator searches of a comparison, whose seeds pair up); ``judge`` is
    the judge stage's ``test_verification`` ({"accuracy": fraction, "n_pairs": int, ...}) or None. ``low`` and
    ``high`` are the interval that decides (for a claim over several comparisons, the one with the lowest lower
    bound); ``n`` the number of paired seeds (the smallest over comparisons) or of judge test pairs.
    """
    paired = paired_comparisons(trials)
    present = [f for f in families(trials) if not is_reference(trials[trials["target"] == f])]  # no paper claim concerns a reference
    untrained = not_trained(training_status(best_per_search(trials[trials["target"].isin(present)]), present, LEVEL))
    acc = "verification_accuracy"
    others = [f for f in present if f != "rcgan"] or ["vae", "cgan"]
    about = _paper_gap(acc, "rcgan", "cgan")
    seed_rule = "95 % paired Student-t interval over seeds"
    specs = [
        ("RC-GAN has the highest Table I accuracy", acc, "rcgan", others, "greater", 0.0,
         f"greater: the difference (points) lies above 0 for every other family; {seed_rule}"),
        (f"RC-GAN beats C-GAN by about {about:.2f} accuracy points", acc, "rcgan", ["cgan"], "about", ABOUT_TOLERANCE,
         f"about {about:.2f} ± {ABOUT_TOLERANCE:g} points: interval inside the band; {seed_rule}"),
        ("The VAE has the best PSNR", "psnr", "vae", [f for f in present if f != "vae"] or ["cgan", "rcgan"], "greater", 0.0,
         f"greater: PSNR difference (dB, higher is better) above 0 for every other family; {seed_rule}"),
        ("The VAE has the best SSIM", "ssim", "vae", [f for f in present if f != "vae"] or ["cgan", "rcgan"], "greater", 0.0,
         f"greater: SSIM difference (higher is better) above 0 for every other family; {seed_rule}"),
        ("The VAE's accuracy is above C-GAN's", acc, "vae", ["cgan"], "greater", 0.0, f"greater: the difference (points) lies above 0; {seed_rule}"),
    ]
    rows = [_judge_row(judge)]
    for claim, metric, a, versus, rule, tol, rule_text in specs:
        target = about if rule == "about" else 0.0
        rows.append({"claim": claim, "rule": rule_text, **_comparisons(paired, present, metric, a, versus, rule, target, tol, untrained)})
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------- output


def render_claims(claims: pd.DataFrame) -> str:
    """The claims as a GitHub Markdown table (claim, paper, ours, verdict, rule) with the reasons beneath."""
    from tabulate import tabulate

    rows = [[r["claim"], r["paper"], r["ours"], f"**{r['verdict']}**" + (f" ({r['reason']})" if r["reason"] else ""), r["rule"]]
            for _, r in claims.iterrows()]
    table = tabulate(rows, ["claim", "paper", "ours (95 % interval, n)", "verdict", "rule"], tablefmt="github", disable_numparse=True)
    note = ("Differences are oriented so that > 0 means the first family is better; accuracy in percentage points. "
            "Generated by `v2f-bench report` (v2f_bench/report/claims.py) from the experiments; do not edit by hand.")
    return f"{table}\n\n{note}\n"


def write_claims(claims: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``claims.csv`` (the numeric table) and ``claims.md`` (``render_claims``) into ``out_dir``."""
    out = Path(out_dir)
    csv, md = out / "claims.csv", out / "claims.md"
    claims.to_csv(csv, index=False, float_format="%.6g")
    md.write_text(render_claims(claims), encoding="utf-8")
    return [csv, md]
