"""The face judge's settings and its threshold: an identity oracle embeds faces and decides "same
person" by a distance threshold tau.

The judges themselves (facenet-pytorch's InceptionResnetV1 trained here or pretrained, dlib's ResNet
descriptor, ...) live in ``v2f_bench.judges``, one module each, found by name in
``v2f_bench.judges.registry.JUDGES``. Every judge returns L2-normalised embeddings, so the same tau
grid and calibration serve them all.

Calibration uses real photos only, never generated ones: every unordered pair of distinct photos
(no self-pairs, each pair once) is labelled same/different identity, and the threshold is chosen on
a grid by accuracy (the paper's text) or F1 (the authors' code) for the rule "same iff d < tau".
A split with more than ``MAX_PAIRS`` pairs (VGGFace's validation photos make 10^8 or more) is calibrated and
verified on a seeded uniform sample of ``MAX_PAIRS`` of them (``photo_pairs``), which keeps the split's share of
same-identity pairs in expectation; the calibration states its n, the pairs there were and whether it sampled.
The whole accuracy/precision/recall/F1 curve is kept (the paper's Fig. 4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from v2f_bench.errors import UserError
from v2f_bench.hyperparameters import Hyper, check_config
from v2f_bench.metrics import pair_distance, threshold_curve

DISTANCES = ("l2", "sq_l2")
CRITERIA = ("accuracy", "f1")
ALIGNMENTS = ("landmarks", "predictor")
"""How a judge with its own face alignment (dlib) treats a crop: ``landmarks`` takes the prepared crop
as already aligned (by the dataset's landmarks) and only resizes it; ``predictor`` re-aligns it with
the judge's own landmark predictor. Judges without an alignment step ignore the setting."""


@dataclass(frozen=True)
class JudgeConfig:
    kind: str = "trained"
    """The judge's name in ``v2f_bench.judges.registry.JUDGES``."""
    weights: str | None = None
    """Path of a pretrained facenet weight file; default ``$TORCH_HOME/checkpoints/<facenet-pytorch's file name>``."""
    align: str = "landmarks"
    """One of ``ALIGNMENTS`` (used by the dlib judge)."""
    distance: str = "sq_l2"
    """``l2`` (the paper's text) or ``sq_l2`` (the authors' code)."""
    criterion: str = "accuracy"
    """How tau is chosen: ``accuracy`` (the paper's text) or ``f1`` (the authors' code)."""
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    tau_step: float = 0.01

    def validate(self) -> None:
        """A one-line ``UserError`` for a bad setting; the judge's name is checked where it is looked up
        (``judges.registry.judge_class``)."""
        for value, allowed, name in ((self.distance, DISTANCES, "--distance"), (self.criterion, CRITERIA, "--criterion"),
                                     (self.align, ALIGNMENTS, "--judge-align")):
            if value not in allowed:
                raise UserError(f"{name} {value!r}: choose one of {', '.join(allowed)}")
        tuning = {name: getattr(self, name) for name in JUDGE_HYPERS if name != "max_epochs"}
        check_config(JUDGE_HYPERS, {**tuning, "max_epochs": self.epochs}, "judge", "the judge settings")

    def as_dict(self) -> dict:
        return asdict(self)


SEARCHED_JUDGE = "trained"
"""The judge whose hyperparameters a judge search tunes (``judges.facenet.TrainedFacenet``)."""

JUDGE_HYPERS: dict[str, Hyper] = {
    "lr": Hyper(JudgeConfig.lr, "Adam learning rate of the identity classifier", minimum=0.0, exclusive=True),
    "batch_size": Hyper(JudgeConfig.batch_size, "photos per step", minimum=1),
    "max_epochs": Hyper(JudgeConfig.epochs, "epochs to train (JudgeConfig.epochs); set by a search's budget", minimum=1),
    "distance": Hyper(JudgeConfig.distance, "what tau thresholds: l2 (the paper's text) or sq_l2 (the authors' code)", DISTANCES),
    "criterion": Hyper(JudgeConfig.criterion, "how tau is chosen on validation pairs: accuracy (text) or f1 (code)", CRITERIA),
    "tau_step": Hyper(JudgeConfig.tau_step, "spacing of tau's grid", minimum=0.0, exclusive=True),
    "seed": Hyper(JudgeConfig.seed, "seeds Python, numpy and torch; set by a search", minimum=0),
}
"""The trained judge's searchable settings: the ``JudgeConfig`` fields, with its defaults (``max_epochs`` is its ``epochs``)."""

JUDGE_OBJECTIVE = ("val_verification_accuracy", "max")
"""What a judge search selects by: verification accuracy of validation photo pairs at the tau chosen there (higher is better)."""


def judge_config_of(settings: dict, kind: str = SEARCHED_JUDGE) -> JudgeConfig:
    """The ``JudgeConfig`` of a judge trial's checked settings (``JUDGE_HYPERS`` names; ``max_epochs`` is ``epochs``)."""
    settings = dict(settings)
    return JudgeConfig(kind=kind, epochs=settings.pop("max_epochs"), **settings)


def judge_settings(config: JudgeConfig) -> dict:
    """The trained judge's settings of ``config`` under their ``JUDGE_HYPERS`` names (the inverse of ``judge_config_of``)."""
    return {name: config.epochs if name == "max_epochs" else getattr(config, name) for name in JUDGE_HYPERS}


MAX_PAIRS = 2_000_000
"""The most photo pairs tau is calibrated (or verified) on; above it, a seeded sample of this many (``photo_pairs``)."""
PAIR_SAMPLE_SEED = 0
"""Seeds the draw of the pair sample, and nothing else."""


def photo_pairs(labels, limit: int | None = None, seed: int = PAIR_SAMPLE_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Indices (i, j), i < j, of pairs of distinct items, whether each pair shares a label, and how many pairs there are.

    Every pair when there are at most ``limit`` (default ``MAX_PAIRS``); otherwise ``limit`` distinct pairs drawn uniformly without replacement
    (``seed``), by their rank k in the row-major order of the upper triangle, never building the whole list: row i
    holds the N - 1 - i pairs (i, i+1) ... (i, N-1)."""
    labels = np.asarray(labels)
    limit = MAX_PAIRS if limit is None else limit
    n = len(labels)
    total = n * (n - 1) // 2
    if total <= limit:
        i, j = np.triu_indices(n, k=1)
    else:
        k = _distinct_ranks(total, limit, np.random.default_rng(seed))
        row_end = np.cumsum(np.arange(n - 1, 0, -1, dtype=np.int64))
        i = np.searchsorted(row_end, k, side="right")
        j = k - (row_end[i] - (n - 1 - i)) + i + 1
    return i, j, labels[i] == labels[j], total


PAIR_CHUNK = 65_536
"""Pairs whose distances are computed at a time: two (chunk, D) blocks of embeddings, never (pairs, D)."""


def pair_distances(embeddings: torch.Tensor, i: np.ndarray, j: np.ndarray, distance: str) -> np.ndarray:
    """``pair_distance`` of rows i[k] and j[k] of ``embeddings`` for every k, ``PAIR_CHUNK`` pairs at a time."""
    embeddings = torch.as_tensor(embeddings)
    parts = [pair_distance(embeddings[i[k : k + PAIR_CHUNK]], embeddings[j[k : k + PAIR_CHUNK]], kind=distance).cpu().numpy()
             for k in range(0, len(i), PAIR_CHUNK)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _distinct_ranks(total: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct integers of [0, total), sorted, every such set equally likely: uniform draws, duplicates dropped,
    topped up until there are ``size``; memory of ``size`` values (``Generator.choice`` without replacement can shuffle a
    whole ``arange(total)``)."""
    ranks = np.unique(rng.integers(0, total, size=size))
    while len(ranks) < size:
        ranks = np.unique(np.concatenate([ranks, rng.integers(0, total, size=size - len(ranks))]))
    return ranks


@dataclass
class Calibration:
    """The chosen threshold and the curve it was chosen from."""

    tau: float
    distance: str
    criterion: str
    accuracy: float
    f1: float
    n_pairs: int
    n_same: int
    curve: dict[str, list[float]]
    pairs_in_split: int = 0
    """Every pair the split has; more than ``n_pairs`` when tau was chosen on a sample of them."""

    def as_dict(self) -> dict:
        return asdict(self)


def tau_grid(distance: str, step: float) -> np.ndarray:
    """Candidate thresholds covering every possible distance between unit vectors (2 for L2, 4 for squared L2)."""
    top = 2.0 if distance == "l2" else 4.0
    return np.round(np.arange(step, top + step / 2, step), 10)


def calibrate(embeddings: torch.Tensor, labels, distance: str = "sq_l2", criterion: str = "accuracy", step: float = 0.01) -> Calibration:
    """Choose tau on real-photo pairs; ties go to the smallest tau."""
    i, j, same, total = photo_pairs(labels)
    if same.sum() == 0 or (~same).sum() == 0:
        raise UserError("tau calibration needs at least two photos of one identity and photos of two identities")
    d = pair_distances(embeddings, i, j, distance)
    curve = threshold_curve(d, same, tau_grid(distance, step))
    best = int(np.argmax(curve[criterion]))
    return Calibration(
        tau=float(curve["tau"][best]),
        distance=distance,
        criterion=criterion,
        accuracy=float(curve["accuracy"][best]),
        f1=float(curve["f1"][best]),
        n_pairs=int(len(d)),
        n_same=int(same.sum()),
        curve={k: [float(v) for v in values] for k, values in curve.items()},
        pairs_in_split=total,
    )


def calibrate_and_verify(val_embeddings: torch.Tensor, val_labels, test_embeddings: torch.Tensor, test_labels,
                         config: "JudgeConfig") -> tuple[Calibration, dict[str, float]]:
    """How every judge is set and scored: tau chosen on the validation photos (``calibrate`` with ``config``'s
    distance, criterion and grid step), then verification at that tau on the test photos (``pair_verification``)."""
    calibration = calibrate(val_embeddings, val_labels, config.distance, config.criterion, config.tau_step)
    return calibration, pair_verification(test_embeddings, test_labels, calibration.tau, config.distance)


def pair_verification(embeddings: torch.Tensor, labels, tau: float, distance: str) -> dict[str, float]:
    """Accuracy and F1 of "same iff d < tau" on every unordered pair of real photos (held-out photos in practice), or on
    a seeded sample of ``MAX_PAIRS`` of them (``photo_pairs``)."""
    i, j, same, total = photo_pairs(labels)
    d = pair_distances(embeddings, i, j, distance)
    curve = threshold_curve(d, same, np.array([tau]))
    return {"accuracy": float(curve["accuracy"][0]), "f1": float(curve["f1"][0]), "n_pairs": int(len(d)), "n_same": int(same.sum()),
            "pairs_in_split": total}
