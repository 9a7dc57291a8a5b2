"""The voice stage: its window embeddings written as shards beside the prepared dataset's voice shards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from v2f_bench.artifacts import EMBEDDING_COLUMN
from v2f_bench.data.batches import ShardLayout, take_rows, whole_column
from v2f_bench.data.prepared import VOICE_SHARDS, load_prepared
from v2f_bench.tasks.voice import CLIP_EMBEDDINGS, WINDOW_EMBEDDINGS, voice_stage, window_layout, write_embeddings
from v2f_bench.voice_encoders.base import VoiceEncoder
from v2f_bench.voice_encoders.registry import resolve_voice_encoder


@pytest.fixture(scope="module")
def sharded(voice_sharded):
    """The tiny dataset in voice shards of 3 clips."""
    return voice_sharded


def test_the_stage_writes_one_embedding_shard_per_voice_shard_with_the_embedding_of_every_window(sharded, tmp_path):
    from v2f_bench.models.voice_cnn import VoiceCNN

    parts = sharded.manifest["shards"][VOICE_SHARDS]["files"]
    assert len(parts) > 3
    encoder = resolve_voice_encoder("paper-text")
    torch.manual_seed(0)
    model = VoiceCNN(len(sharded.manifest["identities"]), variant="paper-text")  # any weights: the writing is under test
    layout = ShardLayout.from_spec(write_embeddings(encoder, sharded, tmp_path, model), EMBEDDING_COLUMN, tmp_path)
    assert [(p["first"], p["rows"]) for p in parts] == list(zip(layout.first, layout.rows))
    windows, clips = encoder.embed(sharded, model)
    assert layout.shape == (encoder.embedding_dim,) and windows.std() > 0
    np.testing.assert_allclose(whole_column(layout), windows, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / CLIP_EMBEDDINGS), clips, atol=1e-5)
    rows = np.array([layout.total - 1, 0, parts[1]["first"], parts[1]["first"] - 1])
    np.testing.assert_allclose(take_rows(layout, rows), windows[rows], atol=1e-5)


def test_a_stage_whose_window_embeddings_are_one_array_is_embedded_again_with_the_same_model(prepared_dir, staged_run_dir):
    """A voice stage from before the embedding shards (``window_embeddings.npy``) keeps its trained model: the checkpoint
    in the stage embeds the windows into shards; nothing is trained again."""
    folder = staged_run_dir / "voice"
    record = json.loads((folder / "stage.json").read_text())
    old = {key: value for key, value in record.items() if key != WINDOW_EMBEDDINGS}
    (folder / "stage.json").write_text(json.dumps(old))
    np.save(folder / "window_embeddings.npy", whole_column(window_layout(staged_run_dir, record)))
    checkpoint = sorted(p.stat().st_mtime_ns for p in (folder / "best_checkpoint").iterdir())
    again = voice_stage(load_prepared(prepared_dir), staged_run_dir, {})
    assert again == record, "the same record: the same model's epochs and metrics, and the shards"
    assert not (folder / "window_embeddings.npy").exists()
    assert sorted(p.stat().st_mtime_ns for p in (folder / "best_checkpoint").iterdir()) == checkpoint, "not trained again"


class Miscounted(VoiceEncoder):
    """An encoder that gives one voice shard more than the prepared dataset has, or rows of the wrong width."""

    name, embedding_dim, trainable = "test-miscounted", 4, False
    extra_shard = True

    def shard_embeddings(self, prepared, model=None):
        for part in prepared.manifest["shards"][VOICE_SHARDS]["files"]:
            yield np.zeros((part["rows"], self.embedding_dim if self.extra_shard else 3), np.float32)
        yield np.zeros((1, self.embedding_dim), np.float32)


@pytest.mark.parametrize("extra_shard, message", [(True, "more voice shards than the"), (False, r"shape \(\d+, 3\) for voice shard")])
def test_an_encoder_that_gives_the_wrong_shards_is_named_before_the_stage_is_recorded(sharded, tmp_path, extra_shard, message):
    encoder = Miscounted()
    encoder.extra_shard = extra_shard
    with pytest.raises(ValueError, match=message):
        write_embeddings(encoder, sharded, tmp_path)
