"""Every registered voice encoder keeps the interface's contract; a new encoder needs nothing but registration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from v2f_bench.data.prepared import load_prepared
from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig
from v2f_bench.search import default_space_file
from v2f_bench.search import search_setup
from v2f_bench.tasks.generator import generator_data
from v2f_bench.tasks.judge import judge_stage
from v2f_bench.data.batches import whole_column
from v2f_bench.tasks.voice import CLIP_EMBEDDINGS, voice_stage, window_layout
from v2f_bench.trials import run_one
from v2f_bench.voice_encoders.base import VoiceEncoder
from v2f_bench.voice_encoders.registry import VOICE_ENCODERS, get_voice_encoder, register_voice_encoder

pytestmark = pytest.mark.slow

ONE_EPOCH = {"max_epochs": 1, "patience": 5}


@pytest.fixture(scope="module")
def prepared(prepared_dir):
    return load_prepared(prepared_dir)


@pytest.mark.parametrize("name", sorted(VOICE_ENCODERS))
def test_each_encoder_gives_finite_window_and_clip_embeddings_of_its_declared_width(name, prepared, tmp_path, request):
    cls = get_voice_encoder(name)
    if cls.trainable:
        request.getfixturevalue("ray_shared")
    record = voice_stage(prepared, tmp_path, ONE_EPOCH if cls.trainable else None, encoder=name)
    windows = whole_column(window_layout(tmp_path, record))
    clips = np.load(tmp_path / "voice" / CLIP_EMBEDDINGS)
    assert windows.shape == (len(prepared.voice_features), cls.embedding_dim) and windows.dtype == np.float32
    assert clips.shape == (len(prepared.manifest["clips"]), cls.embedding_dim) and clips.dtype == np.float32
    assert np.isfinite(windows).all() and np.isfinite(clips).all() and windows.std() > 0
    for clip in prepared.manifest["clips"][:3]:
        mine = windows[clip["first_window"] : clip["first_window"] + clip["n_windows"]]
        np.testing.assert_allclose(clips[clip["index"]], mine.mean(0), rtol=1e-5, atol=1e-6)
    stored = json.loads((tmp_path / "voice" / "stage.json").read_text())
    assert stored["encoder"] == record["encoder"] == name and stored["embedding_dim"] == cls.embedding_dim
    assert record["trainable"] is cls.trainable
    if cls.trainable:
        assert record["config"]["variant"] == cls.variant and record["epochs_trained"] == 1
    assert voice_stage(prepared, tmp_path, ONE_EPOCH if cls.trainable else None, encoder=name) == record, "cached"


class RandomProjection(VoiceEncoder):
    """A throwaway frozen encoder: a fixed random projection of the 60x41x2 window features to 24 dimensions."""

    name = "test-random-projection"
    trainable = False
    embedding_dim = 24

    def window_embeddings(self, prepared, model=None) -> np.ndarray:
        x = np.asarray(prepared.voice_features, dtype=np.float32).reshape(len(prepared.voice_features), -1)
        projection = np.random.default_rng(0).standard_normal((x.shape[1], self.embedding_dim)).astype(np.float32)
        return x @ projection / np.sqrt(x.shape[1])


@pytest.fixture
def throwaway_encoder():
    register_voice_encoder(RandomProjection)
    yield RandomProjection
    VOICE_ENCODERS.pop(RandomProjection.name, None)


def test_a_registered_encoder_feeds_the_voice_stage_and_a_generator_trial(throwaway_encoder, prepared, tmp_path, ray_shared):
    voice = voice_stage(prepared, tmp_path, encoder=throwaway_encoder.name)
    assert voice["encoder"] == throwaway_encoder.name and voice["epochs_trained"] == 0
    judge = JudgeConfig(epochs=1, batch_size=8)
    setup = search_setup("vae", default_space_file("vae"), prepared, tmp_path, {}, judge, voice_encoder=throwaway_encoder.name)
    assert setup.extra["voice_encoder"] == setup.extra["voice_stage"]["encoder"] == throwaway_encoder.name
    assert setup.data["voice_emb"].shape == (len(prepared.voice_features), throwaway_encoder.embedding_dim) and not setup.data["streamed"]
    data = generator_data(prepared, tmp_path, voice, judge_stage(prepared, tmp_path, judge))
    result = run_one(data, {"family": "vae", "max_epochs": 1}, tmp_path / "trials", "projected")
    assert np.isfinite(result.metrics["val_verification_accuracy"])


def test_registration_rules_match_the_family_registry(throwaway_encoder):
    assert register_voice_encoder(throwaway_encoder) is throwaway_encoder, "re-registering the same class is a no-op"
    clash = type("Clash", (VoiceEncoder,), {"name": throwaway_encoder.name, "embedding_dim": 4})
    with pytest.raises(ValueError, match="already registered"):
        register_voice_encoder(clash)
    with pytest.raises(ValueError, match="no `name`"):
        register_voice_encoder(type("Nameless", (VoiceEncoder,), {"embedding_dim": 4}))
    with pytest.raises(ValueError, match="embedding_dim"):
        register_voice_encoder(type("Flat", (VoiceEncoder,), {"name": "flat"}))
    with pytest.raises(ValueError, match="not a VoiceEncoder"):
        register_voice_encoder(dict)
    with pytest.raises(ValueError, match="unknown voice encoder 'nope'; known: .*ge2e"):
        get_voice_encoder("nope")


def test_a_pretrained_encoder_refuses_voice_hyperparameters_and_a_contradicting_variant_is_refused(prepared, tmp_path):
    with pytest.raises(UserError, match="'ge2e' is pretrained and takes no voice hyperparameters"):
        voice_stage(prepared, tmp_path, {"lr": 0.1}, encoder="ge2e")
    with pytest.raises(UserError, match="variant 'paper-code' contradicts --voice-encoder paper-text"):
        voice_stage(prepared, tmp_path, {"variant": "paper-code"}, encoder="paper-text")


def test_a_voice_search_trains_the_variant_its_encoder_names_and_a_pretrained_one_has_none(prepared, tmp_path):
    judge = JudgeConfig(epochs=1)
    setup = search_setup("voice", default_space_file("voice"), prepared, tmp_path, {}, judge, voice_encoder="paper-code")
    assert setup.fixed == {"variant": "paper-code"} and setup.extra == {"voice_encoder": "paper-code"}
    with pytest.raises(UserError, match="'ge2e' is pretrained and has no hyperparameters to train or search"):
        search_setup("voice", default_space_file("voice"), prepared, tmp_path, {}, judge, voice_encoder="ge2e")
