"""``nearest-identity``: the reference a lookup reaches: the mean face of the training identity (or identities) whose
voice is nearest.

Fitting keeps, for every training identity, the mean of its training windows' voice embeddings (its voice centroid) and
the pixel mean of its training photos (its mean face). A voice is compared with every centroid by cosine similarity and
gets the mean face of the ``neighbours`` most similar identities (averaged with equal weights). On identities seen in
training this is the identity's own mean face whenever the voice embedding places the voice nearest its own centroid; on
unseen identities it is the face of the training person who sounds most alike, so it is what shared traits between voice
and face give without any learning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from v2f_bench.hyperparameters import Hyper
from v2f_bench.models.family import Memory, ReferenceFamily


class NearestIdentity(ReferenceFamily):
    """Voice -> the mean face of the training identity with the most similar voice centroid (cosine)."""

    name = "nearest-identity"
    defaults = {
        "neighbours": Hyper(1, "training identities whose mean faces are averaged: the k with the most similar voice centroids", minimum=1),
    }

    def build(self) -> None:
        s = self.image_size
        self.memory = Memory(centroids=torch.zeros(1, self.embed_dim), faces=torch.zeros(1, 3, s, s))
        self.networks = {"memory": self.memory}

    def fit(self, voice: Tensor, labels: Tensor, faces: Tensor, face_labels: Tensor) -> None:
        labels, face_labels = torch.as_tensor(labels).long().cpu(), torch.as_tensor(face_labels).long().cpu()
        people = sorted(set(labels.tolist()) & set(face_labels.tolist()))
        if not people:
            raise ValueError("nearest-identity: no training identity has both voice windows and photos")
        voice, faces = voice.to(self.device, torch.float32), faces.to(self.device, torch.float32)
        self.memory.centroids = torch.stack([voice[labels == c].mean(0) for c in people])
        self.memory.faces = torch.stack([faces[face_labels == c].mean(0) for c in people])

    def _generate(self, voice: Tensor) -> Tensor:
        similarity = F.normalize(voice, dim=1) @ F.normalize(self.memory.centroids, dim=1).T
        k = min(self.hparams["neighbours"], similarity.shape[1])
        nearest = similarity.topk(k, dim=1).indices
        return self.memory.faces[nearest].mean(1)
