"""The dlib judge: real dlib, real weight files from the installed face-recognition-models package."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v2f_bench.data.prepared import load_prepared
from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig, photo_pairs
from v2f_bench.judges import dlib as dlib_judge
from v2f_bench.judges.dlib import DlibJudge


@pytest.fixture(scope="module")
def photos(prepared_dir):
    """The tiny prepared dataset's judge-size crops and their identity labels."""
    prepared = load_prepared(prepared_dir)
    size = prepared.manifest["params"]["faces"]["judge_size"]
    return np.asarray(prepared.faces(size)), np.asarray(prepared.arrays["photo_label.npy"])


@pytest.fixture(scope="module")
def landmarks_judge():
    return DlibJudge(JudgeConfig(kind="dlib", align="landmarks"))


def test_one_image_gives_one_descriptor_and_two_identities_differ(photos, landmarks_judge):
    faces, labels = photos
    other = int(np.flatnonzero(labels != labels[0])[0])
    emb = landmarks_judge.embed(faces[[0, 0, other]])
    assert emb.shape == (3, 128)
    assert torch.equal(emb[0], emb[1])
    assert float((emb[0] - emb[2]).pow(2).sum()) > 1e-3


def test_the_predictor_alignment_cuts_dlibs_own_chip(photos, landmarks_judge):
    faces, _ = photos
    judge = DlibJudge(JudgeConfig(kind="dlib", align="predictor"))
    chips = judge.chips(faces[:2])
    assert [chip.shape for chip in chips] == [(150, 150, 3)] * 2 and chips[0].dtype == np.uint8
    emb = judge.embed(faces[:2])
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(emb, landmarks_judge.embed(faces[:2]), atol=1e-3)


def test_photos_of_one_identity_are_closer_than_photos_of_two(photos, landmarks_judge):
    faces, labels = photos
    emb = landmarks_judge.embed(faces)
    i, j, same, _ = photo_pairs(labels)
    d = (emb[i] - emb[j]).pow(2).sum(1).numpy()
    assert d[same].mean() < d[~same].mean()


def test_a_missing_weight_file_is_a_one_line_error_naming_the_package(monkeypatch):
    monkeypatch.setattr(dlib_judge, "DESCRIPTOR_FILE", "models/no_such_model.dat")
    with pytest.raises(UserError, match=r"models/no_such_model.dat not found .*install face-recognition-models") as error:
        DlibJudge.check(JudgeConfig(kind="dlib"))
    assert "\n" not in str(error.value)
