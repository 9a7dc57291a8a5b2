"""The generator task's loop: a trial that spends a FLOP budget evaluates at rungs of it (the ladder of budgets),
and a family may train on smaller faces than the judge sees."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from v2f_bench.compute import ComputeMeter
from v2f_bench.data.prepared import load_prepared
from v2f_bench.models.family import GENERATOR_HYPERS
from v2f_bench.artifacts import LADDER_FILE, SAMPLE_GENERATED, TEST_METRICS_FILE
from v2f_bench.tasks.generator import Faces, _judge_from, choose_targets, evaluate_generator, generator_data, generator_epochs, rung_fractions
from v2f_bench.tasks.trial_photos import FaceBank


@pytest.fixture(scope="module")
def data(prepared_dir, trained_stages) -> dict:
    """The generator trial data of the session's tiny dataset and stages (read only)."""
    return _data(prepared_dir, trained_stages)


def _data(prepared_dir, trained_stages) -> dict:
    stage = {name: json.loads((trained_stages / name / "stage.json").read_text()) for name in ("voice", "judge")}
    return generator_data(load_prepared(prepared_dir), trained_stages, stage["voice"], stage["judge"])


@pytest.fixture(scope="module")
def vae_step(data) -> float:
    """The training FLOPs of one step of ``VAE`` (a batch of 16)."""
    return step_flops(data, VAE)


def step_flops(data: dict, config: dict) -> float:
    """The training FLOPs of one step of ``config``: a trial whose budget is 1 FLOP evaluates after its first step."""
    meter = ComputeMeter(1, 0)
    next(generator_epochs({**config, "budget_flops": 1.0, "rungs": 1}, data, meter))
    return meter.train_flops


def budgeted(data: dict, config: dict) -> list:
    """Every yield of a budgeted trial."""
    return list(generator_epochs(config, data, ComputeMeter(1, 0)))


VAE = {"family": "vae", "batch_size": 16, "max_epochs": 100}


def test_the_rungs_halve_from_the_whole_budget():
    assert rung_fractions(5) == [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1]
    assert rung_fractions(1) == [1]


def test_a_budgeted_trial_evaluates_after_the_first_step_that_reaches_each_declared_fraction(data, vae_step):
    per_step = vae_step
    budget = 10.5 * per_step
    points = budgeted(data, {**VAE, "budget_flops": budget, "rungs": 3})
    ladder = points[-1].files[LADDER_FILE]
    assert [p.row["rung"] for p in points] == [1, 2, 3] and [p.row["rung_fraction"] for p in points] == rung_fractions(3)
    assert [p["train_steps"] for p in ladder["points"]] == [3, 6, 11], "2.6, 5.25 and 10.5 steps' worth of FLOPs"
    assert [p["train_flops"] for p in ladder["points"]] == pytest.approx([3 * per_step, 6 * per_step, 11 * per_step])
    assert points[-1].row["budget_spent"] == pytest.approx(11 / 10.5) and ladder["budget_flops"] == budget


def test_a_step_that_crosses_two_fractions_evaluates_the_same_model_at_both_rungs(data, vae_step):
    per_step = vae_step
    points = budgeted(data, {**VAE, "budget_flops": 1.5 * per_step, "rungs": 3})
    ladder = points[-1].files[LADDER_FILE]["points"]
    assert [p["train_steps"] for p in ladder] == [1, 1, 2], "one step reaches 1/4 and 1/2 of 1.5 steps' FLOPs"
    assert [p.row["rung"] for p in points] == [1, 2, 3]
    assert points[0].row["val_verification_accuracy"] == points[1].row["val_verification_accuracy"]
    for metric in ("verification_accuracy", "matching_1to2", "top1"):
        assert points[0].row[f"val_{metric}"] == pytest.approx(points[0].row[f"val_chance_{metric}"]), "mean-face is the chance line"


def test_a_trial_restored_from_its_top_rung_has_nothing_left_to_do(data, vae_step):
    config = {**VAE, "budget_flops": 2 * vae_step, "rungs": 2}
    points = budgeted(data, config)
    assert list(generator_epochs(config, data, ComputeMeter(1, 0), points[-1].state)) == []


def test_the_epoch_cap_still_ends_a_budgeted_trial_and_its_last_point_says_what_it_spent(data, vae_step):
    per_step = vae_step
    points = budgeted(data, {**VAE, "budget_flops": 1000 * per_step, "rungs": 2, "max_epochs": 1})
    steps = points[-1].files[LADDER_FILE]["points"][-1]["train_steps"]
    assert [p.row["rung"] for p in points] == [1] and points[-1].row["epoch"] == 1 and points[-1].row["capped"] == 1
    assert points[-1].row["budget_spent"] == pytest.approx(steps / 1000) == points[-1].row["rung_fraction"]


def test_a_rungs_test_values_are_those_of_its_checkpoint_evaluated_directly(data):
    config = {"family": "rcgan", "batch_size": 16, "max_epochs": 100, "g_channels": 8, "d_channels": 8}
    points = budgeted(data, {**config, "budget_flops": 4 * step_flops(data, config), "rungs": 2})
    first = points[0]
    family = data["families"]["rcgan"]({"g_channels": 8, "d_channels": 8}, embed_dim=data["voice"].shape[0], image_size=64)
    family.load_state_dict(first.state["family"])
    faces = FaceBank(data["faces"])
    targets = choose_targets(data["photo_label"], data["photo_split"], GENERATOR_HYPERS["target"].default, 0)
    direct = evaluate_generator(Faces(family, 64), _judge_from(data, torch.device("cpu")), data, faces, targets, "test", torch.device("cpu"))
    on_ladder = points[-1].files[LADDER_FILE]["points"][0]["test"]
    assert {k: on_ladder[k] for k in direct} == pytest.approx(direct)
    assert first.files[TEST_METRICS_FILE]["test_verification_accuracy"] == pytest.approx(direct["test_verification_accuracy"])


def test_a_budgeted_trial_resumed_from_a_rung_continues_exactly(data):
    """The checkpoint of rung 1 falls inside an epoch: the resumed trial goes on from the next batch of that epoch,
    with the same pairing draws."""
    config = {**VAE, "pairing": "all-faces", "rungs": 2}
    config["budget_flops"] = 6 * step_flops(data, config)
    meter = ComputeMeter(1, 0)
    trial = generator_epochs(config, data, meter)
    first = next(trial)
    saved = meter.state()
    assert first.state["position"]["batch"] == 3 * 16, "rung 1 comes after 3 steps, inside the first epoch"
    whole = next(trial).row
    resumed = next(generator_epochs(config, data, ComputeMeter(1, 0, state=saved), first.state)).row
    assert resumed["rung"] == 2 and resumed == pytest.approx(whole)


def test_a_family_trained_at_32_pixels_is_judged_and_shown_at_64(data):
    point = next(generator_epochs({"family": "vae", "max_epochs": 1, "batch_size": 16, "image_size": 32}, data, ComputeMeter(1, 0)))
    assert point.arrays[SAMPLE_GENERATED].shape[1:] == (64, 64, 3)
    assert np.isfinite(point.row["val_verification_accuracy"]) and np.isfinite(point.row["val_ssim"])
    assert point.state["family"]["networks"]["decoder"]["0.weight"].shape[0] == 32 * 8 * 8, "the VAE decodes 32 px faces"


def test_a_reference_family_is_fitted_once_and_that_model_stands_at_every_rung(data):
    meter = ComputeMeter(1, 0)
    points = list(generator_epochs({"family": "nearest-identity", "budget_flops": 1e12, "rungs": 3}, data, meter))
    assert [p.row["rung"] for p in points] == [1, 2, 3] and all(p.row["reference"] == 1 for p in points)
    validation = [{k: v for k, v in p.row.items() if k.startswith("val_")} for p in points]
    assert validation[0] == validation[1] == validation[2]
    assert meter.train_steps == 1 and points[-1].row["budget_spent"] < 1e-6, "one fit, next to nothing of the budget"
    assert len(points[-1].files[LADDER_FILE]["points"]) == 3


def test_a_reference_family_without_a_budget_reports_its_one_fit_at_every_epoch(data):
    points = list(generator_epochs({"family": "mean-face", "max_epochs": 2}, data, ComputeMeter(1, 0)))
    assert [p.row["epoch"] for p in points] == [1, 2]
    assert points[0].row["val_verification_accuracy"] == points[1].row["val_verification_accuracy"]
    for metric in ("verification_accuracy", "matching_1to2", "top1"):
        assert points[0].row[f"val_{metric}"] == pytest.approx(points[0].row[f"val_chance_{metric}"]), "mean-face is the chance line"


def test_every_point_reports_what_one_face_costs(data):
    """``sample_flops``: one forward pass for the VAE; for diffusion its sampler's steps, so doubling them doubles it."""
    vae = next(generator_epochs({**VAE, "max_epochs": 1}, data, ComputeMeter(1, 0))).row
    family = data["families"]["vae"]({}, embed_dim=data["voice"].shape[0], image_size=64)
    assert vae["sample_flops"] == ComputeMeter(1, 0).per_face(lambda: family.generate(torch.zeros(1, data["voice"].shape[0])))
    per_face = {}
    for steps in (2, 4):
        config = {"family": "diffusion", "batch_size": 16, "max_epochs": 1, "channels": 8, "steps": steps}
        per_face[steps] = next(generator_epochs(config, data, ComputeMeter(1, 0))).row["sample_flops"]
    assert per_face[4] == 2 * per_face[2] > 0


def test_a_budget_that_counts_evaluation_trains_for_less(data, vae_step):
    """Under ``budget_counts: train+eval`` the rungs fall where training and evaluation FLOPs together reach each fraction:
    evaluating the first rung spends budget, so the trial reaches its top rung after fewer training steps."""
    config = {**VAE, "budget_flops": 40 * vae_step, "rungs": 2}
    train_only = budgeted(data, config)[-1].files[LADDER_FILE]["points"]
    meter = ComputeMeter(1, 0)
    points = list(generator_epochs({**config, "budget_counts": "train+eval"}, data, meter))
    ladder = points[-1].files[LADDER_FILE]["points"]
    assert [p.row["rung"] for p in points] == [1, 2]
    for point, fraction in zip(ladder, rung_fractions(2)):
        assert point["train_flops"] + point["eval_flops"] >= fraction * config["budget_flops"]
    assert ladder[-1]["train_steps"] < train_only[-1]["train_steps"] == 40
    total = (ladder[-1]["train_flops"] + ladder[-1]["eval_flops"]) / config["budget_flops"]
    assert 1 <= points[-1].row["budget_spent"] <= total, "spent when the top rung was reached, before any evaluation of its own"


def test_an_evaluation_that_carries_a_train_eval_count_past_the_next_rung_is_not_repeated(data, vae_step):
    """With a budget that one evaluation nearly fills, rung 1's evaluation carries the count past rung 2's fraction: the trial
    stands at rung 2 with the same model, and that model is not evaluated (nor counted) twice."""
    meter = ComputeMeter(1, 0)
    first = next(generator_epochs({**VAE, "budget_flops": 1.0, "rungs": 1}, data, ComputeMeter(1, 0)))
    one_evaluation = first.files[LADDER_FILE]["points"][0]["eval_flops"]
    config = {**VAE, "budget_flops": 4 * one_evaluation, "rungs": 3, "budget_counts": "train+eval"}
    points = list(generator_epochs(config, data, meter))
    ladder = points[-1].files[LADDER_FILE]["points"]
    assert [p.row["rung"] for p in points] == [1, 2, 3]
    assert ladder[1]["train_steps"] == ladder[0]["train_steps"] and ladder[1]["eval_flops"] == ladder[0]["eval_flops"]
    assert points[1].row["val_verification_accuracy"] == points[0].row["val_verification_accuracy"]


def test_a_trial_that_streams_its_windows_and_photos_scores_as_one_that_holds_them(prepared_dir, trained_stages, data):
    """With ``--data-path stream`` the voice windows, the faces and the judge embeddings stay in their shards: a trial reads
    its training windows through Ray Data in the in-memory path's order and takes the photo rows it uses (its targets):
    the same metrics as the trial that holds everything."""
    from v2f_bench.data.batches import ShardLayout, set_data_mode

    set_data_mode("stream")
    try:
        streamed = _data(prepared_dir, trained_stages)
    finally:
        set_data_mode("auto")
    assert isinstance(streamed["faces"], ShardLayout) and isinstance(streamed["judge"]["photo_emb"], ShardLayout)
    assert streamed["streamed"] and streamed["voice_emb"] is None and data["voice_emb"] is not None
    config = {"family": "vae", "max_epochs": 1, "batch_size": 16}
    held = next(generator_epochs(dict(config), data, ComputeMeter(1, 0))).row
    read = next(generator_epochs(dict(config), streamed, ComputeMeter(1, 0))).row
    assert read == pytest.approx(held, rel=1e-6, abs=1e-9)


def test_an_evaluation_in_batches_scores_as_one_pass(data, monkeypatch):
    """The split is generated, embedded and scored ``EVAL_BATCH`` units at a time; batches change no value beyond the
    order of float sums."""
    from v2f_bench.tasks import generator

    family = data["families"]["vae"]({}, embed_dim=data["voice"].shape[0], image_size=64)
    targets = choose_targets(data["photo_label"], data["photo_split"], GENERATOR_HYPERS["target"].default, 0)
    judge, dev = _judge_from(data, torch.device("cpu")), torch.device("cpu")
    whole = evaluate_generator(Faces(family, 64), judge, data, FaceBank(data["faces"]), targets, "test", dev)
    monkeypatch.setattr(generator, "EVAL_BATCH", 3)
    assert int((np.asarray(data["clip_split"]) == "test").sum()) > 3, "several batches"
    batched = evaluate_generator(Faces(family, 64), judge, data, FaceBank(data["faces"]), targets, "test", dev)
    assert batched == pytest.approx(whole, rel=1e-5, abs=1e-6)
