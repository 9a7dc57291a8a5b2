"""The ladder of budgets: each rung read as the final tables are, from the trials' points at that rung; and the
report's first screen, the answer in sentences."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.report.test_claims import JUDGE, frame
from tests.report.test_training_status import CHANCE, LEARNED, with_gates
from v2f_bench.report import answer, ladder
from v2f_bench.report.tables import render, table_one

FINAL = {"vae": 0.70, "cgan": 0.65, "rcgan": 0.84}
PSNR = {"vae": 28.0, "cgan": 11.5, "rcgan": 16.6, "nearest-identity": 14.0, "mean-face": 13.0}


def study(rungs: dict[int, dict[str, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, ladder) of a 5-seed study whose runs had, at each rung, the given Table I accuracies; the trials
    frame carries the last rung's values, as the checkpoint selected at the end of the budget would."""
    last = max(rungs)
    trials = with_gates(frame(rungs[last], PSNR), LEARNED)
    trials["experiment_path"] = trials["target"] + "-s" + trials["seed"].astype(str)
    trials["train_flops"] = 1e12
    points = []
    for rung, accuracy in rungs.items():
        at = with_gates(frame(accuracy, PSNR), LEARNED)
        for (_, row), path in zip(at.iterrows(), trials["experiment_path"]):
            points.append({"experiment_path": path, "trial_id": row["trial_id"], "target": row["target"], "seed": row["seed"],
                           "rung": rung, "rung_fraction": 2.0 ** (rung - last), "train_flops": 1e12 * 2.0 ** (rung - last),
                           **{k: v for k, v in row.items() if k.startswith("test/")}})
    return trials, pd.DataFrame(points)


AT_CHANCE = {"vae": CHANCE, "cgan": CHANCE, "rcgan": CHANCE}


def test_a_rung_is_read_from_the_trials_points_there_and_the_top_rung_matches_the_final_table():
    trials, points = study({1: AT_CHANCE, 2: FINAL})
    at_top = ladder.trials_at(trials, points, 2)
    assert table_one(at_top)["verification_accuracy"].to_dict() == pytest.approx(table_one(trials)["verification_accuracy"].to_dict(), nan_ok=True)
    at_start = ladder.trials_at(trials, points, 1)
    first = points[points["rung"] == 1].set_index("trial_id")["test/verification_accuracy"]
    assert at_start.set_index("trial_id")["test/verification_accuracy"].to_dict() == first.to_dict()
    assert len(at_start) == len(trials) and (first < 0.14).all()


def test_the_ladder_names_the_trained_family_ahead_at_each_rung_and_where_the_order_changes():
    early = {"vae": 0.60, "cgan": CHANCE, "rcgan": 0.40}
    trials, points = study({1: AT_CHANCE, 2: early, 3: FINAL})
    table = ladder.ladder_table(trials, points)
    assert set(table.loc[table["rung"] == 1, "status"]) == {"at chance"}
    assert ladder.leaders(table) == [(1, None), (2, "vae"), (3, "rcgan")]
    assert ladder.order_changes(table) == ["at rung 2 (500 GFLOP) vae is ahead, after no trained family",
                                           "at rung 3 (1 TFLOP) rcgan is ahead, after vae"]
    rung2 = table[table["rung"] == 2].set_index("family")
    assert rung2.loc["vae", "mean"] == pytest.approx(60.0, abs=1.0) and rung2.loc["vae", "n"] == 5
    assert rung2.loc["cgan", "status"] == "at chance" and rung2.loc["vae", "chance"] == pytest.approx(100 * CHANCE)
    assert "**" in ladder.render(table).splitlines()[3], "the family ahead at rung 2 is in bold"


def test_the_claims_along_the_ladder_are_undecided_where_no_family_had_learned():
    trials, points = study({1: AT_CHANCE, 2: FINAL})
    verdicts = ladder.claims_by_rung(trials, points, JUDGE).set_index("claim")
    highest = next(c for c in verdicts.index if c.startswith("RC-GAN has the highest"))
    assert verdicts.loc[highest, "rung 1"] == "undecided"
    assert verdicts.loc[highest, "rung 2"] == verdicts.loc[highest, "final"] == "reproduced"


def test_the_answer_names_the_family_ahead_with_its_paired_lead_or_says_that_none_is_trained():
    trials, points = study({1: AT_CHANCE, 2: FINAL})
    lines = answer.answer(trials, ladder.ladder_table(trials, points))
    table = table_one(trials)
    vae, rcgan = (f"{table.loc[f, 'verification_accuracy']:.1f} ± {table.loc[f, 'verification_accuracy:half']:.1f} %" for f in ("vae", "rcgan"))
    assert lines[0] == (f"rcgan is ahead within 1 TFLOP of training per run: Table I {rcgan} (n = 5 seeds, test decisions not recorded), "
                        f"against vae's {vae}, a lead of 14.0 points [14.0, 14.0] paired over 5 seeds.")
    assert any(line.startswith("cgan: Table I 65.") and line.endswith("within 1 TFLOP of training per run, trained.") for line in lines)
    assert lines[-1] == "Ahead along the ladder of budgets: rung 1 (500 GFLOP): none trained; rung 2 (1 TFLOP): rcgan."
    untrained, _ = study({1: AT_CHANCE})
    assert answer.answer(untrained)[0].startswith("No family is shown to have learned at this budget (vae at chance, cgan at chance, rcgan at chance)")


def test_the_answer_says_when_a_family_spent_less_than_its_budget():
    trials, _ = study({1: FINAL})
    trials["config/budget_flops"] = 1e12
    assert not any(line.startswith("Not equal in compute") for line in answer.answer(trials))
    trials.loc[trials["target"] == "vae", "train_flops"] = 3e11
    assert answer.answer(trials)[-1].startswith("Not equal in compute: vae's runs spent as little as 30 % of their budget (completed)")
    assert "within a 1 TFLOP budget per run" in answer.answer(trials)[0]


def test_references_are_never_named_ahead_and_every_family_is_set_against_them():
    """nearest-identity scores above every trained family here: it is still a reference row, not the family ahead, and
    each family's paired difference to it says whether it beats it; a reference spends no budget, which is no defect."""
    trials, _ = study({1: {**FINAL, "nearest-identity": 0.90, "mean-face": CHANCE}})
    trials["reference"] = trials["target"].isin(["nearest-identity", "mean-face"]).astype(int)
    trials["config/budget_flops"] = 1e12
    trials.loc[trials["reference"] == 1, "train_flops"] = 0.0
    lines = answer.answer(trials)
    assert lines[0].startswith("rcgan is ahead within a 1 TFLOP budget per run")
    assert table_one(trials).loc["nearest-identity", "status"] == "reference"
    assert "| nearest-identity (reference)" in render(table_one(trials)) and "(not trained)" not in render(table_one(trials))
    references = next(line for line in lines if line.startswith("References (fitted once, not trained): "))
    assert "mean-face Table I" in references and "nearest-identity Table I 90." in references
    against = next(line for line in lines if line.startswith("Against nearest-identity on Table I accuracy"))
    assert "rcgan -6.0 [" in against and "below it" in against and "vae -20.0" in against
    assert not any(line.startswith("Not equal in compute") for line in lines)


def test_a_rungs_flops_are_what_the_trained_families_spent_there_not_diluted_by_a_references_none():
    trials, points = study({1: {**AT_CHANCE, "mean-face": CHANCE}, 2: {**FINAL, "mean-face": CHANCE}})
    trials["reference"] = (trials["target"] == "mean-face").astype(int)
    points.loc[points["target"] == "mean-face", "train_flops"] = 0.0
    table = ladder.ladder_table(trials, points)
    assert ladder.rung_flops(table, 2) == pytest.approx(1e12) and ladder.rung_flops(table, 1) == pytest.approx(5e11)
    assert "| 2 | 1 | 1 TFLOP |" in ladder.render(table)


def test_no_claim_of_the_paper_is_judged_against_a_reference_family():
    from v2f_bench.report.claims import claims_table

    trials, _ = study({1: {**FINAL, "nearest-identity": 0.95}})
    trials["reference"] = (trials["target"] == "nearest-identity").astype(int)
    highest = claims_table(trials, JUDGE).set_index("claim").loc["RC-GAN has the highest Table I accuracy"]
    assert highest["verdict"] == "reproduced" and "nearest-identity" not in highest["ours"]


def test_the_ladder_read_at_equal_total_compute_takes_a_costly_sampler_at_an_earlier_rung():
    """Evaluation costs vae and cgan 1 TFLOP per rung and rcgan (as if it were a sampler) 4: the smallest top-rung total is
    vae's and cgan's (1 + 2 TFLOP of training and evaluation by rung 2); rcgan's rung 1 already holds 0.5 + 4 TFLOP, more
    than that, so no rung of rcgan is within it and it is left out. With evaluation 2 TFLOP per rung, rcgan is read at
    rung 1 (0.5 + 2 = 2.5 TFLOP)."""
    trials, points = study({1: AT_CHANCE, 2: FINAL})
    points["eval_flops"] = points["rung"] * points["target"].map({"vae": 1e12, "cgan": 1e12, "rcgan": 4e12})
    total, read = ladder.at_equal_total(ladder.ladder_table(trials, points))
    assert total == pytest.approx(3e12) and list(read["family"]) == ["vae", "cgan"] and set(read["rung"]) == {2}
    points["eval_flops"] = points["rung"] * points["target"].map({"vae": 1e12, "cgan": 1e12, "rcgan": 2e12})
    table = ladder.ladder_table(trials, points)
    total, read = ladder.at_equal_total(table)
    rcgan = read.set_index("family").loc["rcgan"]
    assert total == pytest.approx(3e12) and rcgan["rung"] == 1 and rcgan["total_flops"] == pytest.approx(2.5e12)
    assert rcgan["status"] == "at chance"
    line = next(line for line in answer.answer(trials, table) if line.startswith("At equal total compute"))
    assert "3 TFLOP per run" in line and "rcgan " in line and "at rung 1 (500 GFLOP of training, at chance)" in line


def test_a_ladder_without_evaluation_counts_has_no_equal_total_reading():
    trials, points = study({1: AT_CHANCE, 2: FINAL})
    total, read = ladder.at_equal_total(ladder.ladder_table(trials, points))
    assert read.empty and not any(line.startswith("At equal total") for line in answer.answer(trials, ladder.ladder_table(trials, points)))


def test_a_budget_that_counts_evaluation_is_spent_by_training_and_evaluation_together():
    trials, _ = study({1: FINAL})
    trials["config/budget_flops"], trials["config/budget_counts"] = 1e12, "train+eval"
    trials["train_flops"], trials["total_flops"] = 4e11, 1.05e12
    assert not any(line.startswith("Not equal in compute") for line in answer.answer(trials))
    trials.loc[trials["target"] == "vae", "total_flops"] = 5e11
    assert answer.answer(trials)[-1].startswith("Not equal in compute: vae's runs spent as little as 50 % of their budget")


def test_a_family_that_has_not_learned_carries_its_status_when_set_against_a_reference():
    trials, _ = study({1: {**FINAL, "cgan": CHANCE, "mean-face": CHANCE}})
    trials["reference"] = (trials["target"] == "mean-face").astype(int)
    against = next(line for line in answer.answer(trials) if line.startswith("Against mean-face on Table I accuracy"))
    assert "cgan (at chance) " in against and "rcgan +" in against and "rcgan (" not in against
