"""The one Ray Tune trainable running each task, and the stages that feed them, on a tiny prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from v2f_bench import artifacts, trainables
from v2f_bench.data.prepared import load_prepared
from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig
from v2f_bench.hyperparameters import Hyper
from v2f_bench.models.family import GeneratorFamily
from v2f_bench.models.registry import FAMILIES, register_family
from v2f_bench.tasks.base import Context
from v2f_bench.tasks.generator import GeneratorTask, generator_data
from v2f_bench.tasks.judge import judge_stage
from v2f_bench.data.batches import whole_column
from v2f_bench.tasks.voice import CLIP_EMBEDDINGS, VoiceTask, voice_stage, window_layout
from v2f_bench.trials import run_one
from v2f_bench.voice_encoders.registry import resolve_voice_encoder

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_shared")]


class TinyLinear(GeneratorFamily):
    """A throwaway family: one linear layer from voice to pixels, trained with L1 to the target."""

    name = "tiny-linear"
    defaults = {"lr": Hyper(1e-2, "Adam learning rate"), "explode_at": Hyper(0, "step at which the loss turns NaN (0 = never)")}

    def build(self) -> None:
        self.networks = {"net": nn.Linear(self.embed_dim, 3 * self.image_size * self.image_size).to(self.device)}
        self.optimizers = {"net": torch.optim.Adam(self.networks["net"].parameters(), lr=self.hparams["lr"])}
        self.steps = 0

    def _train_step(self, voice, face):
        self.steps += 1
        loss = (self._generate(voice) - face).abs().mean()
        if self.hparams["explode_at"] and self.steps >= self.hparams["explode_at"]:
            loss = loss * float("nan")
        self._check_finite(l1=loss)
        self.optimizers["net"].zero_grad()
        loss.backward()
        self.optimizers["net"].step()
        return {"l1_loss": loss}

    def _generate(self, voice):
        return torch.sigmoid(self.networks["net"](voice)).view(-1, 3, self.image_size, self.image_size)


def saved(state: dict) -> dict:
    """What a checkpoint gives back: the state written with torch.save and read with weights_only=True."""
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.fixture(scope="module")
def stages(prepared_dir, tmp_path_factory, shared_ray):
    """The session's prepared tiny dataset, a 2-epoch voice classifier and a 1-epoch trained judge."""
    shared_ray()
    root = tmp_path_factory.mktemp("run")
    prepared = load_prepared(prepared_dir)
    voice = voice_stage(prepared, root, {"max_epochs": 2, "patience": 5})
    judge = judge_stage(prepared, root, JudgeConfig(epochs=1, batch_size=8))
    if TinyLinear.name not in FAMILIES:
        register_family(TinyLinear)
    return prepared, root, voice, judge


def test_the_voice_stage_reports_accuracies_and_exports_embeddings(stages):
    prepared, root, voice, _ = stages
    assert voice["epochs_trained"] == 2
    assert voice["val"]["epoch"] == voice["epoch"] == voice["test"]["epoch_of_model"]
    assert 0.0 <= voice["val"]["val_clip_accuracy"] <= 1.0
    assert set(voice["test"]) >= {"test_accuracy", "test_clip_accuracy"}
    windows = whole_column(window_layout(root, voice))
    clips = np.load(root / "voice" / CLIP_EMBEDDINGS)
    assert windows.shape == (len(prepared.voice_features), 128)
    assert clips.shape == (len(prepared.manifest["clips"]), 128)
    first = prepared.manifest["clips"][0]
    np.testing.assert_allclose(clips[0], windows[first["first_window"] : first["first_window"] + first["n_windows"]].mean(0), rtol=1e-5)


def test_stages_are_reused_when_nothing_changed(stages):
    prepared, root, voice, judge = stages
    before = (root / "voice" / "stage.json").stat().st_mtime_ns
    assert voice_stage(prepared, root, {"max_epochs": 2, "patience": 5}) == voice
    assert (root / "voice" / "stage.json").stat().st_mtime_ns == before
    assert judge_stage(prepared, root, JudgeConfig(epochs=1, batch_size=8)) == judge


def test_a_failed_voice_trial_leaves_the_previous_voice_stage_as_it_was(stages):
    prepared, root, voice, _ = stages
    before = {p.relative_to(root): p.read_bytes() for p in (root / "voice").rglob("*") if p.is_file()}
    assert any(p.parts[1] == "voice_trial" for p in before) and (root / "voice" / "stage.json").is_file()
    with pytest.raises(UserError, match="^voice config: 'dropout' is not a voice hyperparameter; accepted: batch_size, lr, "):
        voice_stage(prepared, root, {"max_epochs": 2, "patience": 5, "dropout": 0.5})
    with pytest.raises(UserError, match="the voice_trial trial failed: .*diverged"):
        voice_stage(prepared, root, {"max_epochs": 2, "patience": 5, "lr": 1.0e30})
    after = {p.relative_to(root): p.read_bytes() for p in (root / "voice").rglob("*") if p.is_file()}
    assert after == before
    assert voice_stage(prepared, root, {"max_epochs": 2, "patience": 5}) == voice


def reported_rows(trial_dir: Path) -> dict[int, dict]:
    """The rows a trial reported to Ray (its ``progress.csv``), by epoch."""
    import pandas as pd

    return {int(row["epoch"]): row for row in pd.read_csv(trial_dir / "progress.csv").to_dict("records")}


def test_train_voice_prints_and_records_val_and_test_of_the_model_early_stopping_kept(stages, tmp_path, capsys):
    """Issue 11: with patience 1 training stops one epoch after the best one and keeps the best epoch's
    weights; the summary's val column and the stage record must be that epoch's, like the test column."""
    from v2f_bench.cli import main

    prepared, root, _, _ = stages
    (tmp_path / "patience1.yaml").write_text("patience: 1\n")
    argv = ["train", "voice", "--prepared", str(prepared.path), "--run-dir", str(tmp_path / "run"),
            "--config", str(tmp_path / "patience1.yaml"), "--epochs", "20"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "run" / "voice" / "stage.json").read_text())
    rows = reported_rows(next((tmp_path / "run" / "voice" / "voice_trial").glob("train_voice_*")))
    epoch, trained = record["test"]["epoch_of_model"], max(rows)
    assert epoch < trained < 20, "early stopping must have restored an earlier epoch for this test to mean anything"
    assert record["val"]["epoch"] == epoch
    for key in ("val_loss", "val_accuracy", "val_clip_accuracy"):
        assert record["val"][key] == pytest.approx(rows[epoch][key])
    assert (record["epoch"], record["epochs_trained"]) == (epoch, trained)
    assert f"model of epoch {epoch} (the best on validation of {trained} trained)" in out
    printed = {line.split()[0]: line.split()[1:] for line in out.splitlines()[-5:] if line.startswith("    ")}
    assert float(printed["loss"][0]) == pytest.approx(rows[epoch]["val_loss"], abs=5e-5)
    assert float(printed["loss"][0]) != pytest.approx(rows[trained]["val_loss"], abs=5e-5)
    assert float(printed["clip_accuracy"][1]) == pytest.approx(record["test"]["test_clip_accuracy"], abs=5e-5)


def test_a_generator_run_names_its_models_epoch_and_takes_val_from_that_epoch(stages, tmp_path):
    from v2f_bench.train_once import format_trial
    from v2f_bench.trials import checkpoint_metrics

    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    result = run_one(data, {"family": "tiny-linear", "max_epochs": 2, "batch_size": 16}, tmp_path, "tiny_once")
    outcome = checkpoint_metrics(result)
    assert (outcome["epoch"], outcome["epochs_trained"]) == (2, 2)
    assert outcome["test"]["epoch_of_model"] == outcome["val"]["epoch"] == 2
    assert outcome["val"]["val_mae"] == pytest.approx(reported_rows(Path(result.path))[2]["val_mae"])
    text = format_trial({"target": "tiny-linear", "config": result.config, **outcome})
    assert "model of epoch 2 (the last of 2 trained)" in text and "epoch 2 training: l1_loss=" in text


def test_the_judge_is_calibrated_on_validation_photos_and_tested_on_test_photos(stages):
    _, _, _, judge = stages
    calibration = judge["calibration"]
    assert 0 < calibration["tau"] <= 4 and len(calibration["curve"]["tau"]) == 400
    assert judge["test_verification"]["n_pairs"] > 0
    assert judge["config"]["kind"] == judge["judge"] == "trained" and judge["embedding_dim"] == 512


@pytest.mark.parametrize("config", [{"family": "rcgan"}, {"family": "diffusion", "channels": 8, "steps": 2, "budget_flops": 1e9, "rungs": 1}],
                         ids=["rcgan", "diffusion-a-few-steps"])
def test_a_generator_trial_reports_every_metric_and_keeps_test_metrics_apart(stages, config):
    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    result = run_one(data, {**config, "max_epochs": 1, "batch_size": 16}, root / "trials", f"{config['family']}_smoke")
    expected = {"val_verification_accuracy", "val_matching_1to2", "val_recall@2", "val_top1", "val_mean_cosine", "val_mae", "val_mse", "val_snr", "val_psnr", "val_pamse", "val_ssim",
                "val_gallery_recall@1", "val_gallery_size", "val_gallery_draws", "val_gallery_identities", "sample_flops", "total_flops"}
    assert expected <= set(result.metrics) and result.metrics["sample_flops"] > 0
    assert not any(key.startswith("test_") for key in result.metrics)
    with result.checkpoint.as_directory() as checkpoint:
        test = json.loads((Path(checkpoint) / artifacts.TEST_METRICS_FILE).read_text())
        generated = np.load(Path(checkpoint) / artifacts.SAMPLE_GENERATED)
        targets = np.load(Path(checkpoint) / artifacts.SAMPLE_TARGETS)
    assert {"test_verification_accuracy", "test_psnr", "test_ssim", "test_frechet_distance", "test_kernel_distance", "test_coverage",
            "test_distribution_n"} <= set(test)
    assert test["judge"] == judge["judge"] == "trained"
    assert generated.shape == targets.shape == (len(prepared.manifest["identities"]), 64, 64, 3) and generated.dtype == np.uint8


def test_a_registered_throwaway_family_trains_through_the_same_trainable(stages):
    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    result = run_one(data, {"family": "tiny-linear", "max_epochs": 2, "batch_size": 16}, root / "trials", "tiny")
    history = result.metrics_dataframe
    assert list(history["epoch"]) == [1, 2]
    assert history["l1_loss"].iloc[1] < history["l1_loss"].iloc[0]


def test_a_diverging_trial_fails_with_a_clear_reason(stages):
    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    with pytest.raises(UserError, match="diverged|non-finite"):
        run_one(data, {"family": "tiny-linear", "explode_at": 2, "max_epochs": 2}, root / "trials", "nan")


def test_unknown_hyperparameters_are_refused_before_any_training(stages):
    prepared, root, _, _ = stages
    with pytest.raises(UserError, match="pixel_wieght"):
        GeneratorTask.train_once("rcgan", Context(prepared, root, judge=JudgeConfig(epochs=1, batch_size=8)), {"pixel_wieght": 2.0})


def assert_resume_continues_exactly(config: dict, data: dict, monkeypatch) -> None:
    """Checkpoint after epoch 1, restore, run epoch 2: the same epoch-2 metrics as an uninterrupted run."""

    def run(restore_from=None):
        rows, states = [], []
        monkeypatch.setattr(trainables, "_report", lambda row, state, extra=None, arrays=None: (rows.append(row), states.append(saved(state))))
        monkeypatch.setattr(trainables, "_restore", lambda: restore_from)
        trainables.train_task(config, data)
        return rows, states

    rows, states = run()
    resumed_rows, _ = run(restore_from=states[0])
    assert [r["epoch"] for r in resumed_rows] == [2]
    timed = ("cpu_s", "gpu_s")  # resource-seconds are wall time: they continue from the checkpoint but differ run to run
    assert {k: v for k, v in resumed_rows[0].items() if k not in timed} == pytest.approx({k: v for k, v in rows[1].items() if k not in timed})
    if "cpu_s" in rows[1]:
        assert resumed_rows[0]["cpu_s"] >= states[0]["compute"]["held_s"]


def test_a_resumed_generator_trial_continues_exactly_where_it_stopped(stages, monkeypatch):
    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    assert_resume_continues_exactly( {"family": "vae", "max_epochs": 2, "batch_size": 16}, data, monkeypatch)


def test_a_resumed_voice_trial_continues_exactly_where_it_stopped(stages, monkeypatch):
    prepared, _, _, _ = stages
    data, _ = VoiceTask.trial_data(resolve_voice_encoder(None), prepared, {})
    assert_resume_continues_exactly({"max_epochs": 2, "patience": 5}, data, monkeypatch)


def test_a_search_records_diverged_trials_as_failed_without_retrying_them_and_goes_on(diverging_search):
    """``conftest.diverging_search``: 4 trials, ``explode_at`` searched over {0, 2}, 2 retries allowed per trial."""
    from v2f_bench.search import best_result

    results, space = diverging_search.results, diverging_search.space
    failed = [r for r in results if r.error is not None]
    finished = [r for r in results if r.error is None]
    assert failed and finished, "the planted NaN must fail some trials and leave the others"
    for result in failed:
        assert "non-finite" in str(result.error) and "not retried" in str(result.error)
        assert (Path(result.path) / artifacts.DIVERGED_FILE).is_file()
        assert result.config["explode_at"] == 2
    assert best_result(results, space)["failed"] == len(failed)



def test_a_generator_report_carries_cumulative_compute_and_its_test_decisions(stages, tmp_path):
    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    result = run_one(data, {"family": "tiny-linear", "max_epochs": 2, "batch_size": 16}, tmp_path, "tiny_compute")
    rows = reported_rows(Path(result.path))
    train_windows = int((data["window_split"] == "train").sum())
    steps = len([n for n in range(0, train_windows, 16) if train_windows - n >= 2])
    assert [rows[e]["train_steps"] for e in (1, 2)] == [steps, 2 * steps]
    assert rows[2]["images_seen"] == 2 * train_windows - 2 * (train_windows % 16 == 1)
    assert rows[2]["train_flops"] == 2 * rows[1]["train_flops"] > 0
    assert rows[2]["cpu_s"] > rows[1]["cpu_s"] > 0 and rows[2]["gpu_s"] == 0
    with result.checkpoint.as_directory() as checkpoint:
        test = json.loads((Path(checkpoint) / artifacts.TEST_METRICS_FILE).read_text())
    assert test["test_unit"] == "window" and test["test_decisions"] == int((data["window_split"] == "test").sum())


def test_per_clip_evaluation_makes_one_decision_per_test_clip(stages):
    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge, "clip")
    test_clips = sum(1 for clip in prepared.manifest["clips"] if clip["split"] == "test")
    assert data["eval_unit"] == "clip" and int((data["clip_split"] == "test").sum()) == test_clips
    with pytest.raises(UserError, match="--eval-unit"):
        generator_data(prepared, root, voice, judge, "frame")


def test_a_compute_budget_stops_a_real_search_within_one_report_and_records_what_it_spent(stages, tmp_path):
    from v2f_bench.compute import parse_compute_budget
    from v2f_bench.search import Budget, SearchSetup, read_record, run_search
    from v2f_bench.search_space import load_space

    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    probe = run_one(data, {"family": "tiny-linear", "max_epochs": 1, "batch_size": 16}, tmp_path, "probe")
    per_epoch = probe.metrics["train_flops"]
    space_file = tmp_path / "tiny.yaml"
    space_file.write_text("target: tiny-linear\nmetric: val_verification_accuracy\nmode: max\n"
                          "parameters:\n  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}\n  batch_size: {type: fixed, value: 16}\n")
    setup = SearchSetup("tiny-linear", data, load_space(space_file), "key")
    compute = parse_compute_budget(f"{5.5 * per_epoch:.6e}")
    budget = Budget(trials=50, max_epochs=3, grace_period=1, concurrency=2, scheduler="asha", compute=compute.as_dict())
    results = run_search(setup, budget, str(tmp_path / "searches"), "budgeted", seed=0)
    record = read_record(tmp_path / "searches" / "budgeted")
    spent = record["spent"]
    assert spent["flops"] == pytest.approx(sum((r.metrics or {}).get("train_flops", 0.0) for r in results))
    assert spent["trials"] == len(results) < 50 and spent["stopped_by_budget"]
    # each of the 2 concurrent trials may finish the epoch it was in when the budget ran out
    assert compute.amount <= spent["flops"] <= compute.amount + 2 * per_epoch
    assert record["budget"]["compute"] == compute.as_dict()


def test_the_chance_line_is_the_score_of_a_generator_that_returns_the_mean_training_face(stages):
    """Each evaluation measures, beside a family's faces, one fixed face for every voice (the mean training face)
    with the same judge, tau, targets and units: a family that returns exactly that face scores exactly its chance line,
    and its identities are collapsed (spread 0)."""
    from v2f_bench.models.family import GENERATOR_HYPERS
    from v2f_bench.tasks.generator import CHANCE_METRICS, _judge_from, choose_targets, evaluate_generator
    from v2f_bench.tasks.trial_photos import FaceBank, mean_training_face

    prepared, root, voice, judge = stages
    data = generator_data(prepared, root, voice, judge)
    faces = FaceBank(data["faces"])
    targets = choose_targets(data["photo_label"], data["photo_split"], GENERATOR_HYPERS["target"].default, 0)

    class MeanFace:
        def generate(self, voice):
            return mean_training_face(data).expand(len(voice), -1, -1, -1)

    dev = torch.device("cpu")
    row = evaluate_generator(MeanFace(), _judge_from(data, dev), data, faces, targets, "val", dev)
    for name in CHANCE_METRICS:
        assert row[f"val_chance_{name}"] == row[f"val_{name}"], name
    assert row["val_identity_spread"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 <= row["val_chance_verification_accuracy"] <= 1.0
