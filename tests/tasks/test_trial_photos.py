"""The photos a generator trial reads: the faces it takes, and the identity means and real sets read from the judge's
embedding shards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from v2f_bench.data.prepared import load_prepared
from v2f_bench.tasks.generator import generator_data
from v2f_bench.tasks.trial_photos import FaceBank, mean_training_face


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
    taken = FaceBank.taken(data["faces"], [5, 3, 0])
    assert torch.equal(taken[index], everything[index]) and len(taken) == 3
    assert torch.equal(taken.resized(32)[index], small[index])
    with pytest.raises(IndexError, match="outside the faces"):
        taken[[1]]
    train = np.flatnonzero(np.asarray(data["photo_split"]) == "train")
    torch.testing.assert_close(mean_training_face(data), everything[train].mean(0, keepdim=True))


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
