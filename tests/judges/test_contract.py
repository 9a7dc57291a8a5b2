"""Every registered judge keeps the ``Judge`` contract (``v2f_bench/judges/base.py``): unit rows of
``embedding_dim`` for uint8 NHWC crops and float NCHW images of any size, a state that survives
``torch.save`` + ``torch.load(weights_only=True)`` and rebuilds an identical judge, and a ``pretrained``
flag that agrees with ``fit``."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from tests.judges.conftest import build_judge, random_faces
from v2f_bench.judges.registry import JUDGES


@pytest.fixture(scope="module", params=sorted(JUDGES))
def ready(request, facenet_home):
    """(judge, the report rows of its fit) for each registered judge."""
    reports: list = []
    return build_judge(request.param, JUDGES[request.param], facenet_home, reports), reports


def test_embeddings_are_unit_rows_for_crops_and_float_images_of_other_sizes(ready):
    judge, _ = ready
    crops = random_faces(3, size=judge.input_size + 10)
    generated = torch.rand(2, 3, 64, 64)
    for images, n in ((crops, 3), (generated, 2)):
        emb = judge.embed(images)
        assert emb.shape == (n, judge.embedding_dim) and emb.dtype == torch.float32 and emb.device.type == "cpu"
        assert torch.isfinite(emb).all() and torch.allclose(emb.norm(dim=1), torch.ones(n), atol=1e-5)


def test_a_crop_and_the_same_image_as_floats_embed_alike(ready):
    judge, _ = ready
    crops = random_faces(2, seed=1)
    as_float = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    assert torch.allclose(judge.embed(crops), judge.embed(as_float), atol=1e-5)


def test_the_state_survives_a_weights_only_checkpoint_and_rebuilds_the_same_judge(ready):
    judge, _ = ready
    buffer = io.BytesIO()
    torch.save(judge.state(), buffer)
    buffer.seek(0)
    rebuilt = type(judge).from_state(torch.load(buffer, weights_only=True), "cpu")
    faces = random_faces(3, seed=2)
    assert rebuilt.name == judge.name and rebuilt.input_size == judge.input_size
    assert torch.allclose(rebuilt.embed(faces), judge.embed(faces), atol=1e-6)


def test_pretrained_judges_refuse_fit_and_trainable_ones_report_each_epoch(ready):
    judge, reports = ready
    if judge.pretrained:
        assert reports == []
        with pytest.raises(ValueError, match="pretrained"):
            judge.fit(random_faces(4), np.array([0, 0, 1, 1]))
    else:
        assert [row[0] for row in reports] == list(range(1, judge.config.epochs + 1))
        assert all(np.isfinite(row[1]) for row in reports)


def test_every_judge_has_a_name_matching_its_key_and_a_help_line():
    for name, cls in JUDGES.items():
        assert cls.name == name and cls.summary and cls.embedding_dim > 0
