"""The claims table: each verdict rule on constructed intervals, and the claims built from a constructed trials frame."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from v2f_bench.report.claims import ABOUT_TOLERANCE, claims_table, oriented_difference, render_claims, verdict, wilson_interval, write_claims
from v2f_bench.report.tables import PAPER

NAN = math.nan


@pytest.mark.parametrize(
    ("rule", "low", "high", "target", "tol", "expected"),
    [
        pytest.param("greater", 0.5, 3.0, 0, 0, "reproduced", id="greater-above-zero"),
        pytest.param("greater", -3.0, -0.5, 0, 0, "contradicted", id="greater-below-zero"),
        pytest.param("greater", -1.0, 2.0, 0, 0, "undecided", id="greater-contains-zero"),
        pytest.param("greater", NAN, NAN, 0, 0, "undecided", id="greater-no-interval"),
        pytest.param("at_least", 94.0, 97.0, 93.9, 0, "reproduced", id="at-least-lower-end-above"),
        pytest.param("at_least", 90.0, 93.8, 93.9, 0, "contradicted", id="at-least-upper-end-below"),
        pytest.param("at_least", 92.0, 95.0, 93.9, 0, "undecided", id="at-least-straddles"),
        pytest.param("about", 12.0, 20.0, 16.43, 5, "reproduced", id="about-inside-band"),
        pytest.param("about", 1.0, 10.0, 16.43, 5, "contradicted", id="about-wholly-below-band"),
        pytest.param("about", 22.0, 30.0, 16.43, 5, "contradicted", id="about-wholly-above-band"),
        pytest.param("about", 8.0, 14.0, 16.43, 5, "undecided", id="about-overlaps-band-edge"),
        pytest.param("about", NAN, 14.0, 16.43, 5, "undecided", id="about-no-interval"),
    ],
)
def test_verdict_rules(rule, low, high, target, tol, expected):
    assert verdict(rule, low, high, target, tol) == expected


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        verdict("roughly", 0.0, 1.0)


def test_wilson_interval_matches_its_formula_and_stays_in_unit_range():
    low, high = wilson_interval(0.9, 100)
    z = stats.norm.ppf(0.975)
    centre = (0.9 + z * z / 200) / (1 + z * z / 100)
    half = z * math.sqrt(0.9 * 0.1 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(1.0, 10)[1] == pytest.approx(1.0) and wilson_interval(1.0, 10)[0] < 0.9


# --------------------------------------------------------------------------- from a trials frame

SEED_SHIFT = [0.0, 0.02, -0.015, 0.01, -0.005]
"""A per-seed effect all families share (same voice stage and split per seed)."""


def frame(acc: dict[str, float], psnr: dict[str, float], seeds: int = 5, gap_jitter: float = 0.002) -> pd.DataFrame:
    rows = []
    for fam in acc:
        for seed in range(seeds):
            shift = SEED_SHIFT[seed]
            jitter = gap_jitter * (seed % 2 - 0.5) * (fam != "cgan")
            rows.append({"target": fam, "seed": seed, "status": "completed", "best_val": 0.5, "mode": "max", "metric": "val_verification_accuracy",
                         "trial_id": f"{fam}{seed}", "test/verification_accuracy": acc[fam] + shift + jitter,
                         "test/psnr": psnr[fam] + 10 * shift + jitter, "test/ssim": psnr[fam] / 40 + shift + jitter})
    return pd.DataFrame(rows)


PAPER_LIKE = frame({"vae": 0.7261, "cgan": 0.6809, "rcgan": 0.8452}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6})
JUDGE = {"accuracy": 0.97, "n_pairs": 400}


def by_claim(claims: pd.DataFrame, start: str) -> pd.Series:
    return claims[claims["claim"].str.startswith(start)].iloc[0]


def test_paper_like_data_reproduces_every_claim():
    claims = claims_table(PAPER_LIKE, JUDGE)
    assert list(claims["verdict"]) == ["reproduced"] * 6, claims[["claim", "verdict", "reason"]].to_string()
    about = by_claim(claims, "RC-GAN beats C-GAN")
    expected = 100 * (0.8452 - 0.6809)
    assert f"{PAPER['rcgan']['verification_accuracy'] - PAPER['cgan']['verification_accuracy']:.2f}" in about["claim"]
    assert about["low"] < expected < about["high"] and about["n"] == 5
    assert f"± {ABOUT_TOLERANCE:g} points" in about["rule"]
    judge = by_claim(claims, "The judge")
    assert judge["n"] == 400 and judge["low"] > 93.9 and "Wilson" in judge["rule"]


def test_reversed_data_contradicts_and_a_small_gap_is_undecided():
    reversed_ = frame({"vae": 0.60, "cgan": 0.75, "rcgan": 0.70}, {"vae": 10.0, "cgan": 20.0, "rcgan": 15.0})
    claims = claims_table(reversed_, {"accuracy": 0.80, "n_pairs": 400})
    assert set(claims["verdict"]) == {"contradicted"}, claims[["claim", "verdict"]].to_string()
    close = frame({"vae": 0.70, "cgan": 0.70, "rcgan": 0.845}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6}, gap_jitter=0.05)
    assert by_claim(claims_table(close, JUDGE), "The VAE's accuracy")["verdict"] == "undecided"


def test_one_seed_makes_seed_based_claims_undecided_and_says_why():
    claims = claims_table(frame({"vae": 0.7261, "cgan": 0.6809, "rcgan": 0.8452}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6}, seeds=1), JUDGE)
    seed_based = claims[~claims["claim"].str.startswith("The judge")]
    assert set(seed_based["verdict"]) == {"undecided"}
    assert seed_based["reason"].str.contains("fewer than 2 paired seeds").all()


def test_a_missing_family_or_judge_is_named():
    claims = claims_table(PAPER_LIKE[PAPER_LIKE["target"] != "cgan"], None)
    assert by_claim(claims, "The judge")["reason"] == "no judge stage artifacts"
    row = by_claim(claims, "RC-GAN beats C-GAN")
    assert row["verdict"] == "undecided" and row["reason"] == "cgan not in the data"
    assert by_claim(claims, "RC-GAN has the highest")["verdict"] == "reproduced", "against the families that are there"


@pytest.mark.parametrize(
    ("metric", "a", "b", "expected"),
    [
        pytest.param("mae", "x", "y", -2.0, id="lower-is-better-flips-the-sign"),
        pytest.param("psnr", "x", "y", 2.0, id="higher-is-better-keeps-it"),
        pytest.param("mae", "y", "x", 2.0, id="the-pair-looked-up-the-other-way-round"),
        pytest.param("psnr", "y", "x", -2.0, id="reversed-pair-higher-is-better"),
    ],
)
def test_differences_are_oriented_so_positive_means_better(metric, a, b, expected):
    """The stored row says x - y = 2 [1, 3]: x has the larger value."""
    paired = pd.DataFrame([{"metric": metric, "a": "x", "b": "y", "difference": 2.0, "low": 1.0, "high": 3.0, "n_pairs": 4}])
    d = oriented_difference(paired, metric, a, b)
    assert d["difference"] == expected and [d["low"], d["high"]] == sorted((expected / 2, expected * 1.5))


def test_claims_are_written_as_csv_and_markdown(tmp_path):
    written = write_claims(claims_table(PAPER_LIKE, JUDGE), tmp_path)
    assert [p.name for p in written] == ["claims.csv", "claims.md"]
    assert pd.read_csv(written[0])["verdict"].tolist() == ["reproduced"] * 6
    text = written[1].read_text()
    assert text.startswith("| claim") and "**reproduced**" in text and np.all([c in text for c in ("93.9 %", "vs cgan")])
    assert render_claims(claims_table(PAPER_LIKE, JUDGE)) == text
