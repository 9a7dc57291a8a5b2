"""``mean-face``: the reference a generator that ignores the voice reaches: the pixel mean of the training photos,
the same face for every voice.

It is the chance line of every evaluation (``tasks.trial_photos.mean_training_face``) as a family of its own, so that it
stands in every table, the ladder and the ranking as a row that a family has to beat to have used the voice at all.
"""

from __future__ import annotations

import torch
from torch import Tensor

from v2f_bench.models.family import Memory, ReferenceFamily


class MeanFace(ReferenceFamily):
    """One face for every voice: the mean of the training photos (each photo weighs the same)."""

    name = "mean-face"
    defaults = {}

    def build(self) -> None:
        s = self.image_size
        self.memory = Memory(face=torch.zeros(1, 3, s, s))
        self.networks = {"memory": self.memory}

    def fit(self, voice: Tensor, labels: Tensor, faces: Tensor, face_labels: Tensor) -> None:
        self.memory.face = faces.to(self.device, torch.float32).mean(0, keepdim=True)

    def _generate(self, voice: Tensor) -> Tensor:
        return self.memory.face.expand(voice.shape[0], -1, -1, -1).clone()
