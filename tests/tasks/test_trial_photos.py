"""The photos a generator trial reads: the faces it takes, and the identity means and real sets read from the judge's
embedding shards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from v2f_bench.data.prepared import load_prepared
from v2f_bench.tasks.generator import generator_data
from v2f_bench.tasks.trial_photos import FaceBank, mean_face, mean_training_face


@pytest.fixture(scope="module")
def small_shards(small_raw, tmp_path_factory):
    """The tiny dataset in face shards of 7 photos, and the layout of their 64-px column."""
    from v2f_bench.data.batches import ShardLayout
    from v2f_bench.data.prepared import FACE_SHARDS, PrepareConfig, face_column, prepare
    from v2f_bench.data.sources import resolve_sources

    out = tmp_path_factory.mktemp("small-shards") / "ds"
    prepare(resolve_sources(small_raw, None, None), out, PrepareConfig(shard_photos=7))
    prepared = load_prepared(out)
    layout = ShardLayout.of(prepared, FACE_SHARDS, face_column(64))
    assert len(layout.files) > 3
    return prepared, layout


@pytest.fixture(scope="module")
def data(prepared_dir, trained_stages) -> dict:
    """The generator trial data of the session's tiny dataset and stages (read only)."""
    stage = {name: json.loads((trained_stages / name / "stage.json").read_text()) for name in ("voice", "judge")}
    return generator_data(load_prepared(prepared_dir), trained_stages, stage["voice"], stage["judge"])


def test_the_face_bank_gives_each_face_as_converting_them_all_at_once_would(data):
    everything = torch.as_tensor(np.asarray(data["faces"])).permute(0, 3, 1, 2).float() / 255.0
    index = [5, 0, 5, 3]
    assert torch.equal(FaceBank(data["faces"])[index], everything[index])
    small = torch.nn.functional.interpolate(everything, size=(32, 32), mode="area")
    assert torch.equal(FaceBank(data["faces"], 32)[index], small[index])
    assert FaceBank.taken(data["faces"], [5, 3, 0]).array.data_ptr() == FaceBank(data["faces"]).array.data_ptr(), \
        "faces held in memory are read where they are, never copied"
    train = np.flatnonzero(np.asarray(data["photo_split"]) == "train")
    torch.testing.assert_close(mean_training_face(data), everything[train].mean(0, keepdim=True))


def test_faces_taken_from_shards_across_shard_boundaries_are_the_faces_held_whole(small_shards):
    """From a dataset in face shards of 7 photos: the bank holds only the photos taken, each as the whole array gives it,
    and the mean training face summed shard by shard is the mean of the whole array."""
    prepared, layout = small_shards
    everything = torch.as_tensor(prepared.faces(64)).permute(0, 3, 1, 2).float() / 255.0
    index = [layout.total - 1, 0, 6, 7, 13, 6]
    taken = FaceBank.taken(layout, index)
    assert len(taken) == 5 and torch.equal(taken[index], everything[index])
    assert torch.equal(taken.resized(32)[index], torch.nn.functional.interpolate(everything, size=(32, 32), mode="area")[index])
    with pytest.raises(IndexError, match="outside the faces"):
        taken[[1]]
    train = np.asarray(prepared.arrays["photo_split.npy"]) == "train"
    np.testing.assert_allclose(mean_face(prepared, train), everything[train].mean(0, keepdim=True).numpy(), atol=1e-6)


def test_the_photo_summary_across_shards_keeps_each_sampled_embedding_with_its_label(small_shards, tmp_path, monkeypatch):
    """Embeddings in several shards, and caps below the photo counts: the galleries are ``metrics.class_means`` of the
    whole array, and every sampled row is the row of the photo whose label it carries."""
    from v2f_bench import metrics
    from v2f_bench.data import shards
    from v2f_bench.data.batches import ShardLayout
    from v2f_bench.tasks import trial_photos

    prepared, faces = small_shards
    labels, split = np.asarray(prepared.arrays["photo_label.npy"]), np.asarray(prepared.arrays["photo_split.npy"])
    every = np.random.default_rng(0).standard_normal((len(labels), 16)).astype(np.float32)
    every[:, 0] = labels  # each row says whose it is
    files = []
    for k, (first, rows) in enumerate(zip(faces.first, faces.rows)):
        shards.write_shard(tmp_path / f"part-{k}.parquet", {"embedding": every[first : first + rows]})
        files.append({"file": f"part-{k}.parquet", "first": first, "rows": rows})
    layout = ShardLayout.from_spec({"files": files, "dtype": "float32", "columns": {"embedding": [16]}}, "embedding", tmp_path)
    monkeypatch.setattr(trial_photos, "DISTRIBUTION_REAL_MAX", 5)
    monkeypatch.setattr(trial_photos, "STAGE_FACE_SAMPLE", 9)
    summary = trial_photos.photo_summary(layout, labels, split)
    for name in ("val", "test"):
        classes, means = metrics.class_means(every[split == name], labels[split == name])
        assert np.array_equal(summary["galleries"][name][1], classes)
        np.testing.assert_allclose(summary["galleries"][name][0], means.numpy(), atol=1e-6)
    real = summary["real_test"]
    assert len(real) == 5 and all(any(np.array_equal(row, e) for e in every[split == "test"]) for row in real)
    sample, sample_labels = summary["sample"]
    assert len(sample) == len(sample_labels) == 9 and np.array_equal(sample[:, 0], sample_labels)


def test_the_galleries_and_real_sets_read_from_the_judge_shards_are_those_of_every_embedding_at_once(data):
    """``generator_data`` reads the judge's embedding shards once: each split's identity means are ``metrics.class_means``
    of that split's photos, and the distribution metrics' real set is the test photos (fewer than ``DISTRIBUTION_REAL_MAX``)."""
    from v2f_bench import metrics

    every = np.asarray(data["judge"]["photo_emb"])
    labels, split = np.asarray(data["photo_label"]), np.asarray(data["photo_split"])
    for name in ("val", "test"):
        classes, means = metrics.class_means(every[split == name], labels[split == name])
        got, got_classes = data["judge"]["galleries"][name]
        assert np.array_equal(got_classes, classes)
        np.testing.assert_allclose(got, means.numpy(), atol=1e-6)
    assert np.array_equal(data["judge"]["real_test"], every[split == "test"])
