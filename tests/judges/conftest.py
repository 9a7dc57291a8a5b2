"""Judges ready to embed, for every registered name: trainable ones fitted on a few random faces,
pretrained facenet ones loaded from a real weight file of a randomly initialised network (the real
weights are not here; the loading code and the file are real), dlib from its installed package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from v2f_bench.judge import JudgeConfig
from v2f_bench.judges.facenet import PretrainedFacenet, facenet_network


def fake_facenet_weights(folder: Path, cls: type[PretrainedFacenet]) -> Path:
    """A facenet weight file as facenet-pytorch caches it (``<TORCH_HOME>/checkpoints/<file>``), of a random network."""
    path = Path(folder) / "checkpoints" / cls.file_name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(facenet_network(cls.n_logits).state_dict(), path)
    return path


def random_faces(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def facenet_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("torch_home")


def build_judge(name: str, cls, torch_home: Path, reports: list | None = None):
    """A ready judge of class ``cls``: pretrained facenet weights from a file under ``torch_home``; trainable ones fitted."""
    config = JudgeConfig(kind=name, epochs=2, batch_size=4)
    if isinstance(cls, type) and issubclass(cls, PretrainedFacenet):
        config = JudgeConfig(kind=name, weights=str(fake_facenet_weights(torch_home, cls)))
    judge = cls(config, "cpu", input_size=96)
    if not judge.pretrained:
        faces, labels = random_faces(8), np.array([0, 0, 1, 1, 0, 0, 1, 1])
        judge.fit(faces, labels, report=lambda *row: reports.append(row) if reports is not None else None)
    return judge
