"""The real photos a generator trial reads, and what it reads of their judge embeddings.

``generator_data`` (``tasks.generator``) summarises the photos once, a shard at a time (``photo_summary``, ``mean_face``);
a trial then takes only the rows it uses (``FaceBank.taken``, ``target_embeddings``), from an array held in memory or,
when the data streams, from the shards (``take``).
"""

from __future__ import annotations

import numpy as np
import torch

from v2f_bench.data.batches import ShardLayout
from v2f_bench.metrics import at_most
from v2f_bench.data.prepared import FACE_SHARDS, PreparedDataset, face_column
from v2f_bench.runtime import shared_tensor

DISTRIBUTION_REAL_MAX = 10_000
"""Real test photos the distribution metrics compare the generated faces with: every one up to this many, else a seeded
sample of this many (``distribution_real_n`` says which n)."""
STAGE_FACE_SAMPLE = 5_000
"""Photo embeddings (and voice clip embeddings) copied beside a search for the report's t-SNE of the judge's (and the voice
encoder's) space: all, or a seeded sample of this many."""


def photo_summary(embeddings: ShardLayout, labels: np.ndarray, split: np.ndarray) -> dict:
    """What the evaluations read of the real photos' judge embeddings, from one pass over their shards (one in memory at a
    time): ``galleries``, each split's (unit mean embedding of each identity, the identities) as ``metrics.class_means``
    computes them (summed in float64); ``real_test``, the test photos' embeddings, or a seeded sample of
    ``DISTRIBUTION_REAL_MAX``; ``sample``, (embeddings, labels) of ``STAGE_FACE_SAMPLE`` photos at most, for the report."""
    from v2f_bench.data.batches import read_column

    rng = np.random.default_rng(0)
    test_rows = at_most(np.flatnonzero(split == "test"), DISTRIBUTION_REAL_MAX, rng)
    sample_rows = at_most(np.arange(len(labels)), STAGE_FACE_SAMPLE, rng)
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    sums = {name: np.zeros((n_classes, embeddings.shape[0])) for name in ("val", "test")}
    real, sample = [], []
    for k in range(len(embeddings.files)):
        rows = read_column(embeddings, k).astype(np.float64)
        here = slice(embeddings.first[k], embeddings.first[k] + embeddings.rows[k])
        unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        for name, total in sums.items():
            mine = split[here] == name
            np.add.at(total, labels[here][mine], unit[mine])
        for chosen, out in ((test_rows, real), (sample_rows, sample)):
            inside = chosen[(chosen >= here.start) & (chosen < here.stop)]
            out.append(rows[inside - here.start].astype(np.float32))
    galleries = {}
    for name, total in sums.items():
        classes = np.unique(labels[split == name])
        means = total[classes]
        galleries[name] = ((means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)).astype(np.float32), classes)
    dim = embeddings.shape[0]
    return {"galleries": galleries, "real_test": np.concatenate(real) if real else np.zeros((0, dim), np.float32),
            "sample": (np.concatenate(sample) if sample else np.zeros((0, dim), np.float32), labels[sample_rows])}


def mean_face(prepared: PreparedDataset, train: np.ndarray) -> np.ndarray:
    """The pixel mean of the training photos' 64-px faces, (1, 3, 64, 64) float32 on [0, 1] (summed in float64, a shard at a
    time from the local copy): the constant generator of the chance line (``mean_training_face``)."""
    from v2f_bench.data.batches import read_column

    layout = ShardLayout.of(prepared, FACE_SHARDS, face_column(64), local=True)
    total = torch.zeros((1, 3, 64, 64), dtype=torch.float64)
    for k in range(len(layout.files)):
        mine = np.asarray(train[layout.first[k] : layout.first[k] + layout.rows[k]], dtype=bool)
        rows = torch.from_numpy(np.ascontiguousarray(read_column(layout, k)[mine])).permute(0, 3, 1, 2).float() / 255.0
        total += rows.sum(0, keepdim=True, dtype=torch.float64)
    return (total / max(int(np.sum(train)), 1)).float().numpy()


class FaceBank:
    """The real faces a trial reads: uint8 (n, H, W, 3) rows (``rows``: the photos they are, sorted; None: every photo, in
    order), never converted whole; ``bank[index]`` (photo indices) is those faces as float (n, 3, S, S) on [0, 1], resized
    (area) when ``size`` S differs from H. A trial so holds in floats only the faces of one batch (or of the identities'
    targets); each face's values are those of converting every face at once (the conversion and resizing are per image)."""

    def __init__(self, array: np.ndarray, size: int | None = None, rows: np.ndarray | None = None):
        self.array = shared_tensor(array)
        self.side = int(size or self.array.shape[1])
        self.rows = None if rows is None else np.asarray(rows)

    @classmethod
    def taken(cls, source, rows) -> FaceBank:
        """The bank a trial reads ``rows`` from: the faces array itself when it is held (shared through the object store,
        never copied), else photos ``rows`` only, taken from their shards (``take``)."""
        if not isinstance(source, ShardLayout):
            return cls(source)
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        return cls(take(source, rows), rows=rows)

    def resized(self, size: int) -> FaceBank:
        """The same faces, read at ``size`` pixels (sharing the rows)."""
        return FaceBank(self.array, size, self.rows)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index) -> torch.Tensor:
        index = np.asarray(index)
        if self.rows is not None:
            at = np.searchsorted(self.rows, index)
            if index.size and (at.max() >= len(self.rows) or not np.array_equal(self.rows[at], index)):
                raise IndexError("photos outside the faces this trial took")
            index = at
        rows = self.array[torch.as_tensor(index, dtype=torch.long)].permute(0, 3, 1, 2).float() / 255.0
        if rows.shape[-1] == self.side:
            return rows
        return torch.nn.functional.interpolate(rows, size=(self.side, self.side), mode="area")


def take(source, rows) -> np.ndarray:
    """Rows ``rows`` of a trial's per-photo data: an array held in memory, or the layout of its shards, read shard by
    shard (``batches.take_rows``) when it is streamed."""
    from v2f_bench.data.batches import take_rows

    return take_rows(source, rows) if isinstance(source, ShardLayout) else np.asarray(source)[np.asarray(rows, dtype=np.int64)]


def face_rows(data: dict, targets: np.ndarray, pairing: str, reference: bool) -> np.ndarray:
    """The photos a trial reads the faces of: the identities' targets, and every training photo when it pairs windows with
    all of an identity's faces (``pairing: all-faces``) or fits on them (a reference family)."""
    if pairing == "all-faces" or reference:
        return np.union1d(targets, np.flatnonzero(np.asarray(data["photo_split"]) == "train"))
    return np.asarray(targets)


def target_embeddings(data: dict, targets: np.ndarray) -> torch.Tensor:
    """(C, D): row c is the judge embedding of identity c's target photo."""
    return torch.as_tensor(take(data["judge"]["photo_emb"], targets)).float()


def mean_training_face(data: dict) -> torch.Tensor:
    """The pixel mean of the training photos' faces, (1, 3, H, W) on [0, 1] (``mean_face``): the constant generator of the
    chance line."""
    return torch.as_tensor(data["mean_face"])
