"""Whether a family learned, from its chance line and collapse measure; a claim that involves one that did not is undecided."""

from __future__ import annotations

import pandas as pd

from tests.report.test_claims import JUDGE, by_claim, frame
from v2f_bench.report.claims import claims_table
from v2f_bench.report.tables import best_per_search, render, table_one
from v2f_bench.report.training_status import COLLAPSED_BELOW
from v2f_bench.report.training_status import training_status as status_of_selected

CHANCE = 0.11
"""Each seed's chance line (one fixed face for every voice), as the evaluation records it beside the family's value."""


def with_gates(trials: pd.DataFrame, spread: dict[str, float], chance: float = CHANCE) -> pd.DataFrame:
    """``trials`` with the chance line and the collapse measure each evaluation records."""
    out = trials.copy()
    out["test/chance_verification_accuracy"] = chance
    out["test/identity_spread"] = out["target"].map(spread)
    return out


def training_status(trials: pd.DataFrame) -> pd.DataFrame:
    return status_of_selected(best_per_search(trials), sorted(set(trials["target"])))


LEARNED = {"vae": 0.9, "cgan": 0.7, "rcgan": 1.1}


def test_a_family_clear_of_its_chance_line_and_not_collapsed_is_trained():
    trials = with_gates(frame({"vae": 0.70, "cgan": 0.65, "rcgan": 0.84}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6}), LEARNED)
    status = training_status(trials).set_index("family")
    assert list(status["status"]) == ["trained"] * 3
    assert status.loc["vae", "gain_low"] > 0 and status.loc["vae", "n"] == 5
    assert abs(status.loc["vae", "gain"] - 100 * (0.70 - CHANCE)) < 1.0, "the gain is in points over the chance line"


def test_at_chance_and_collapsed_families_are_named_and_their_claims_are_undecided():
    at_chance = frame({"vae": 0.72, "cgan": CHANCE, "rcgan": 0.84}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6})
    trials = with_gates(at_chance, {**LEARNED, "rcgan": COLLAPSED_BELOW / 2})
    status = training_status(trials).set_index("family")["status"].to_dict()
    assert status == {"vae": "trained", "cgan": "at chance", "rcgan": "collapsed"}
    claims = claims_table(trials, JUDGE)
    for claim in ("RC-GAN has the highest", "RC-GAN beats C-GAN", "The VAE's accuracy is above C-GAN's"):
        row = by_claim(claims, claim)
        assert row["verdict"] == "undecided" and row["reason"].startswith("not trained: "), (claim, row["reason"])
    assert "cgan (at chance)" in by_claim(claims, "The VAE's accuracy")["reason"]
    assert "rcgan (collapsed)" in by_claim(claims, "RC-GAN has the highest")["reason"]
    assert by_claim(claims, "The judge")["verdict"] == "reproduced", "the judge is no family: never gated"


def test_without_an_interval_over_seeds_a_family_is_not_shown_to_have_learned():
    one_seed = with_gates(frame({"vae": 0.70, "cgan": 0.65, "rcgan": 0.84}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6}, seeds=1), LEARNED)
    assert set(training_status(one_seed)["status"]) == {"one seed"}
    assert by_claim(claims_table(one_seed, JUDGE), "The VAE's accuracy")["reason"] == "not trained: vae (one seed), cgan (one seed)"


def test_runs_that_predate_the_chance_line_are_unmeasured_and_not_gated():
    older = frame({"vae": 0.7261, "cgan": 0.6809, "rcgan": 0.8452}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6})
    assert set(training_status(older)["status"]) == {"unmeasured"}
    assert list(claims_table(older, JUDGE)["verdict"]) == ["reproduced"] * 6


def test_table_one_marks_a_family_that_did_not_learn_and_says_why():
    trials = with_gates(frame({"vae": 0.72, "cgan": CHANCE, "rcgan": 0.84}, {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6}), LEARNED)
    table = table_one(trials)
    assert table["status"].to_dict() == {"vae": "trained", "cgan": "at chance", "rcgan": "trained"}
    text = render(table, "markdown")
    assert "| cgan (not trained) " in text and "| vae  " in text and "| rcgan (not trained)" not in text
    assert "Not trained (a model that did not learn, so no verdict on its family): cgan at chance: Table I +" in text
    assert "points over its chance line (n=5)" in text
