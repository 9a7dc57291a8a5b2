"""The facenet judges: pretrained weights from local files only (never downloaded), the trained one."""

from __future__ import annotations

import pytest
import torch

from tests.judges.conftest import fake_facenet_weights, random_faces
from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig
from v2f_bench.judges.facenet import CasiaWebfaceFacenet, TrainedFacenet, VGGFace2Facenet, embed_with, facenet_network


def test_missing_pretrained_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as error:
        VGGFace2Facenet(JudgeConfig(kind="vggface2"))
    message = str(error.value)
    assert str(tmp_path / "checkpoints" / "20180402-114759-vggface2.pt") in message and "--judge trained" in message


def test_a_file_that_is_not_judge_weights_is_refused(tmp_path):
    bad = tmp_path / "weights.pt"
    torch.save({"something": torch.zeros(3)}, bad)
    with pytest.raises(UserError, match="not facenet-pytorch casia-webface weights"):
        CasiaWebfaceFacenet(JudgeConfig(kind="casia-webface", weights=str(bad)))


def test_pretrained_weights_load_from_torch_home_without_download(facenet_home, monkeypatch):
    path = fake_facenet_weights(facenet_home, CasiaWebfaceFacenet)
    monkeypatch.setenv("TORCH_HOME", str(facenet_home))
    judge = CasiaWebfaceFacenet(JudgeConfig(kind="casia-webface"), input_size=96)
    reference = facenet_network(CasiaWebfaceFacenet.n_logits, torch.load(path, weights_only=True), embedding=True)
    faces = random_faces(2)
    assert torch.allclose(judge.embed(faces), embed_with(reference, faces, 96), atol=1e-6)


def test_the_trained_judge_must_be_fitted_before_it_embeds():
    with pytest.raises(ValueError, match="call fit first"):
        TrainedFacenet(JudgeConfig()).embed(random_faces(1))
