"""The judge stage: its photo embeddings written as shards beside the prepared dataset's face shards."""

from __future__ import annotations

import json

import numpy as np
import torch

from v2f_bench.data.batches import ShardLayout, take_rows
from v2f_bench.data.prepared import FACE_SHARDS, load_prepared
from v2f_bench.judges.registry import JUDGES
from v2f_bench.artifacts import EMBEDDING_COLUMN
from v2f_bench.tasks.judge import PHOTO_EMBEDDINGS


def test_the_judge_stage_writes_one_embedding_shard_per_face_shard_with_the_embedding_of_every_photo(prepared_dir, trained_stages):
    prepared = load_prepared(prepared_dir)
    record = json.loads((trained_stages / "judge" / "stage.json").read_text())
    layout = ShardLayout.from_spec(record[PHOTO_EMBEDDINGS], EMBEDDING_COLUMN, trained_stages / "judge")
    faces = prepared.manifest["shards"][FACE_SHARDS]["files"]
    assert [(p["first"], p["rows"]) for p in faces] == list(zip(layout.first, layout.rows))
    assert layout.shape == (record["embedding_dim"],) and not (trained_stages / "judge" / "photo_embeddings.npy").exists()
    state = torch.load(trained_stages / "judge" / "judge.pt", map_location="cpu", weights_only=True)
    judge = JUDGES[record["judge"]].from_state(state, "cpu")
    every = judge.embed(prepared.faces(record["crop_size"])).numpy()
    read = take_rows(layout, np.arange(layout.total))
    np.testing.assert_allclose(read, every, atol=1e-5)


def test_a_stage_whose_embeddings_are_one_array_is_embedded_again_with_the_same_judge(prepared_dir, staged_run_dir):
    """A judge stage from before the embedding shards (``photo_embeddings.npy``) keeps its judge: the same ``judge.pt`` is
    loaded and embeds the photos into shards; nothing is trained again."""
    from v2f_bench.judge import JudgeConfig
    from v2f_bench.tasks.judge import judge_stage

    folder = staged_run_dir / "judge"
    record = json.loads((folder / "stage.json").read_text())
    before = torch.load(folder / "judge.pt", map_location="cpu", weights_only=True)
    old = {key: value for key, value in record.items() if key != PHOTO_EMBEDDINGS}
    (folder / "stage.json").write_text(json.dumps(old))
    again = judge_stage(load_prepared(prepared_dir), staged_run_dir, JudgeConfig(epochs=1))
    assert again[PHOTO_EMBEDDINGS] == record[PHOTO_EMBEDDINGS] and again["training"] == record["training"]
    after = torch.load(folder / "judge.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(before["net"][k], after["net"][k]) for k in before["net"])
    assert again["calibration"]["tau"] == record["calibration"]["tau"]


def test_a_judge_trial_that_streams_its_photos_trains_as_one_that_holds_them(prepared_dir, ray_shared):
    """The trained judge reads its photos as a trial's rows: held whole, or streamed from the face shards through Ray
    Data with ``--data-path stream``; the same batches, so the same network and the same tau after an epoch."""
    from v2f_bench.compute import ComputeMeter
    from v2f_bench.tasks.judge import JudgeTask, judge_data

    prepared = load_prepared(prepared_dir)
    held, streamed = judge_data(prepared, "memory"), judge_data(prepared, "stream")
    assert held["faces"] is not None and streamed["faces"] is None and streamed["streamed"] and not held["streamed"]
    config = {"max_epochs": 1, "batch_size": 16}
    a = next(JudgeTask.epochs(dict(config), held, ComputeMeter(1, 0)))
    b = next(JudgeTask.epochs(dict(config), streamed, ComputeMeter(1, 0)))
    assert a.row == b.row and a.files == b.files
    assert all(torch.equal(a.state["net"][k], b.state["net"][k]) for k in a.state["net"])
