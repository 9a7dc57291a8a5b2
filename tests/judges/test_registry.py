"""Adding a judge is one class plus ``register_judge``: a throwaway judge registered here, without
editing any other module, is offered by the CLI, validated, calibrated by the real judge stage and
rebuilt from its state by a generator trial's evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from v2f_bench.cli import build_parser
from v2f_bench.data.prepared import load_prepared
from v2f_bench.judge import JudgeConfig
from v2f_bench.judges.base import Judge, as_float_images
from v2f_bench.judges.dlib import DlibJudge
from v2f_bench.judges.registry import JUDGES, get_judge, judge_class, register_judge
from v2f_bench.artifacts import TEST_METRICS_FILE
from v2f_bench.compute import ComputeMeter
from v2f_bench.tasks.generator import generator_data, generator_epochs
from tests.conftest import stand_in_voice_stage
from v2f_bench.tasks.judge import judge_stage


class PixelProjection(Judge):
    """A fixed random projection of 16x16 pixels to 32 numbers, L2-normalised: a judge in a dozen lines."""

    name = "pixel-projection"
    summary = "a fixed random projection of the pixels (tests only)"
    input_size = 16
    embedding_dim = 32

    def __init__(self, config, device="cpu", input_size=None, projection=None):
        super().__init__(config, device)
        self.projection = projection if projection is not None else torch.randn(3 * 16 * 16, 32, generator=torch.Generator().manual_seed(0))

    def embed(self, images):
        return F.normalize(as_float_images(images, self.input_size).flatten(1) @ self.projection, dim=1)

    def state(self):
        return {**super().state(), "projection": self.projection}

    @classmethod
    def from_state(cls, state, device="cpu"):
        return cls(JudgeConfig(**state["config"]), device, projection=state["projection"])


@pytest.fixture
def registered():
    register_judge(PixelProjection)
    yield PixelProjection
    JUDGES.pop(PixelProjection.name)


def test_registering_the_same_class_twice_is_harmless_and_a_taken_name_is_refused(registered):
    assert register_judge(PixelProjection) is PixelProjection and get_judge("pixel-projection") is PixelProjection
    impostor = type("Impostor", (DlibJudge,), {})
    with pytest.raises(ValueError, match="'dlib' is already registered to DlibJudge"):
        register_judge(impostor)
    with pytest.raises(ValueError, match="not a Judge subclass"):
        register_judge(dict)
    with pytest.raises(ValueError, match="unknown judge 'nope'; known: .*pixel-projection"):
        get_judge("nope")


def test_a_registered_judge_is_offered_validated_calibrated_and_rebuilt_in_a_generator_trial(registered, prepared_dir, tmp_path):
    args = build_parser().parse_args(["train", "vae", "--judge", "pixel-projection"])
    config = JudgeConfig(kind=args.judge)
    assert judge_class(config) is JUDGES["pixel-projection"]
    prepared = load_prepared(prepared_dir)
    record = judge_stage(prepared, tmp_path, config)
    assert record["judge"] == "pixel-projection" and record["embedding_dim"] == 32 and record["training"] == []
    assert 0 < record["calibration"]["tau"] <= 4 and record["test_verification"]["n_pairs"] > 0
    assert json.loads((tmp_path / "judge" / "stage.json").read_text())["config"]["kind"] == "pixel-projection"

    # voice embeddings of the right shape stand in for the voice stage: the judge is under test here
    rng = np.random.default_rng(0)
    voice = stand_in_voice_stage(prepared, tmp_path, rng.normal(size=(len(prepared.arrays["window_label.npy"]), 128)).astype(np.float32))
    data = generator_data(prepared, tmp_path, voice, record)
    JUDGES.pop(PixelProjection.name)  # the trial must find the judge in the data it was sent, as a Ray worker does
    try:
        epoch = next(generator_epochs({"family": "vae", "max_epochs": 1, "batch_size": 32}, data, ComputeMeter(1, 0)))
        row, extra = epoch.row, epoch.files
    finally:
        register_judge(PixelProjection)
    assert 0 <= row["val_verification_accuracy"] <= 1 and np.isfinite(row["val_mean_cosine"])
    assert extra[TEST_METRICS_FILE]["judge"] == "pixel-projection"
