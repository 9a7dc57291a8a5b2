"""The voice classifier whose penultimate layer gives 128-d voice embeddings (paper III-A).

Input: windows as the data stage stores them, float (B, 60, 41, 2) = (mel bands, frames,
[log-mel, delta]), channels last; the network permutes them to (B, 2, 60, 41).

Two variants, configurations of the same class:

``paper-text`` (the PDF): 3 conv of 128 kernels 3x3, MaxPool(4, 2), ReLU; FC 512-128-N with
dropout 0.5 and an L2 penalty of 1e-3 on the FC weights. Pooling (4, 2) three times cannot
be done on 60x41 without padding (60 -> 15 -> 3 -> 0 rows), so, as in the authors' code,
convs use 'same' padding and only conv 1 and 2 are pooled: 60x41 -> 15x20 -> 3x10 -> 3x10
(3,840 features). Pool then ReLU, as the text orders them (the two commute).

``paper-code`` (the notebooks): 3 conv of 256 kernels 3x3 'valid' with ReLU, MaxPool(4, 2)
after conv 1 and 2: 58x39 -> 14x19 -> 12x17 -> 3x8 -> 1x6 (1,536 features); FC 128-128-N,
no dropout or L2.

In both, the embedding is the output of the 128-unit FC layer that feeds the classifier,
taken before its ReLU (this is what the code saves; the text only says "remove the last
layer").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

VARIANTS = ("paper-text", "paper-code")
L2_WEIGHT = 1e-3
"""Keras ``l2(1e-3)``: adds 1e-3 * sum(w^2) per regularised kernel to the loss (paper-text)."""


class VoiceCNN(nn.Module):
    """Voice-window classifier; ``embed`` gives the (B, embed_dim) voice embedding."""

    def __init__(self, n_classes: int, variant: str = "paper-text", embed_dim: int = 128):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown VoiceCNN variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.variant, self.n_classes, self.embed_dim = variant, n_classes, embed_dim
        pool = nn.MaxPool2d((4, 2))
        if variant == "paper-text":
            c, pad, hidden, dropout = 128, "same", 512, 0.5
            convs = [nn.Conv2d(2, c, 3, padding=pad), pool, nn.ReLU(),
                     nn.Conv2d(c, c, 3, padding=pad), pool, nn.ReLU(),
                     nn.Conv2d(c, c, 3, padding=pad), nn.ReLU()]
            n_flat = c * 3 * 10
        else:
            c, pad, hidden, dropout = 256, "valid", 128, 0.0
            convs = [nn.Conv2d(2, c, 3), nn.ReLU(), pool,
                     nn.Conv2d(c, c, 3), nn.ReLU(), pool,
                     nn.Conv2d(c, c, 3), nn.ReLU()]
            n_flat = c * 1 * 6
        self.features = nn.Sequential(*convs, nn.Flatten())
        self.fc1 = nn.Linear(n_flat, hidden)
        self.fc2 = nn.Linear(hidden, embed_dim)
        self.head = nn.Linear(embed_dim, n_classes)
        self.dropout = nn.Dropout(dropout)
        self.l2_weight = L2_WEIGHT if variant == "paper-text" else 0.0

    def embed(self, x: Tensor) -> Tensor:
        """(B, 60, 41, 2) windows -> (B, embed_dim): the layer feeding the classifier, before its ReLU."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (60, 41, 2):
            raise ValueError(f"voice windows must have shape (B, 60, 41, 2), got {tuple(x.shape)}")
        h = self.features(x.permute(0, 3, 1, 2))
        return self.fc2(self.dropout(torch.relu(self.fc1(h))))

    def forward(self, x: Tensor) -> Tensor:
        """(B, 60, 41, 2) windows -> (B, n_classes) logits."""
        return self.head(self.dropout(torch.relu(self.embed(x))))

    def l2_penalty(self) -> Tensor:
        """The Keras-style L2 term to add to the loss: 1e-3 * sum of squared FC kernels (0 for paper-code)."""
        if not self.l2_weight:
            return self.head.weight.new_zeros(())
        return self.l2_weight * sum(fc.weight.square().sum() for fc in (self.fc1, self.fc2, self.head))


@torch.no_grad()
def clip_embeddings(model: VoiceCNN, windows, clip_index, n_clips: int | None = None, batch_size: int = 512) -> Tensor:
    """Mean window embedding per clip: (n_clips, embed_dim) float32 on the CPU.

    ``windows`` (W, 60, 41, 2) and ``clip_index`` (W,) ints in [0, n_clips) may be numpy
    arrays or tensors; ``n_clips`` defaults to ``max(clip_index) + 1``, and every clip must
    have at least one window. Runs in eval mode on the model's device, in batches.
    """
    index = torch.as_tensor(np.asarray(clip_index), dtype=torch.long)
    windows = torch.as_tensor(windows, dtype=torch.float32)
    if len(windows) == 0:
        raise ValueError("no voice windows given")
    if index.ndim != 1 or len(index) != len(windows):
        raise ValueError(f"clip_index must be (W,) with W = {len(windows)} windows, got {tuple(index.shape)}")
    n = int(index.max()) + 1 if n_clips is None else n_clips
    if len(index) and (index.min() < 0 or index.max() >= n):
        raise ValueError(f"clip_index values must lie in [0, {n})")
    counts = torch.bincount(index, minlength=n)
    if (counts == 0).any():
        raise ValueError(f"clips without windows: {torch.nonzero(counts == 0).flatten().tolist()[:10]}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.embed(windows[i : i + batch_size].to(device)).float().cpu()
        for i in range(0, len(windows), batch_size)
    ]
    model.train(was_training)
    sums = torch.zeros(n, model.embed_dim).index_add_(0, index, torch.cat(parts))
    return sums / counts[:, None]
