"""The face judge: an identity oracle that embeds faces and decides "same person" by a distance threshold tau.

The network is facenet-pytorch's InceptionResnetV1, producing L2-normalised 512-d embeddings.

- ``vggface2`` / ``casia-webface``: facenet-pytorch's pretrained weights, read from a local file
  (``--judge-weights``, or ``$TORCH_HOME/checkpoints/<file>`` where facenet-pytorch caches them).
  Nothing is downloaded; a missing file is a one-line error that says where to put it.
- ``trained``: the same network trained here as an identity classifier on the train split's real
  photos (cross-entropy, Adam, random horizontal flips); its pre-logit embedding is the judge.

Calibration uses real photos only, never generated ones: every unordered pair of distinct photos
(no self-pairs, each pair once) is labelled same/different identity, and the threshold is chosen on
a grid by accuracy (the paper's text) or F1 (the authors' code) for the rule "same iff d < tau".
The whole accuracy/precision/recall/F1 curve is kept (the paper's Fig. 4).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from v2f_bench.errors import UserError
from v2f_bench.metrics import pair_distance, threshold_curve

JUDGE_KINDS = ("trained", "vggface2", "casia-webface")
PRETRAINED = {"vggface2": ("20180402-114759-vggface2.pt", 8631), "casia-webface": ("20180408-102900-casia-webface.pt", 10575)}
"""facenet-pytorch's weight files and the number of classes of their logit layers."""
DISTANCES = ("l2", "sq_l2")
CRITERIA = ("accuracy", "f1")


@dataclass(frozen=True)
class JudgeConfig:
    kind: str = "trained"
    """One of ``JUDGE_KINDS``."""
    weights: str | None = None
    """Path of a pretrained weight file; default ``$TORCH_HOME/checkpoints/<facenet-pytorch's file name>``."""
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
        for value, allowed, name in ((self.kind, JUDGE_KINDS, "--judge"), (self.distance, DISTANCES, "--distance"),
                                     (self.criterion, CRITERIA, "--criterion")):
            if value not in allowed:
                raise UserError(f"{name} {value!r}: choose one of {', '.join(allowed)}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or not self.tau_step > 0:
            raise UserError("judge epochs, batch size, learning rate and tau step must be positive")

    def as_dict(self) -> dict:
        return asdict(self)


def to_network_input(images) -> torch.Tensor:
    """uint8 (N, H, W, 3) crops or float (N, 3, H, W) images in [0, 1] -> facenet's input, 2x - 1."""
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    if x.dtype == torch.uint8:
        x = x.permute(0, 3, 1, 2).float() / 255.0
    return x.float() * 2.0 - 1.0


def pretrained_path(config: JudgeConfig) -> Path:
    if config.weights:
        return Path(config.weights)
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return torch_home / "checkpoints" / PRETRAINED[config.kind][0]


def judge_network(n_classes: int, state: dict | None = None, embedding: bool = False):
    """The judge's network, built in this one place: facenet-pytorch's InceptionResnetV1 with an
    ``n_classes`` identity head, loaded from ``state`` when given. ``embedding=True`` returns it in
    eval mode without the head (``classify = False``), giving the 512-d L2-normalised embedding."""
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1(classify=True, num_classes=int(n_classes))
    if state is not None:
        net.load_state_dict(state)
    if embedding:
        net.classify = False
        net.eval()
    return net


def load_pretrained(config: JudgeConfig):
    """A pretrained InceptionResnetV1 from a local file; a one-line error when the file is absent."""
    path = pretrained_path(config)
    file_name, n_classes = PRETRAINED[config.kind]
    if not path.is_file():
        raise UserError(
            f"judge weights {config.kind!r} not found at {path}: copy facenet-pytorch's {file_name} there "
            "(or pass --judge-weights FILE), or use --judge trained to train the judge on the train photos"
        )
    try:
        net = judge_network(n_classes, torch.load(path, map_location="cpu", weights_only=True), embedding=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not facenet-pytorch {config.kind} weights ({str(exc).splitlines()[0]})") from None
    return net


class JudgeTrainer:
    """InceptionResnetV1 trained as an identity classifier, one epoch at a time (cross-entropy,
    Adam, random horizontal flips), with its state for checkpoints."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, config: JudgeConfig, device: str = "cpu"):
        torch.manual_seed(config.seed)
        self.config, self.device, self.epochs_done = config, device, 0
        self.net = judge_network(int(np.max(labels)) + 1).to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.x = to_network_input(images)
        self.y = torch.as_tensor(np.asarray(labels), dtype=torch.long)

    def epoch(self) -> tuple[float, float]:
        """Train one epoch; returns (mean loss, accuracy) on the training photos."""
        self.net.classify = True
        self.net.train()
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + self.epochs_done)
        order = torch.randperm(len(self.y), generator=generator)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), self.config.batch_size):
            index = order[start : start + self.config.batch_size]
            if len(index) < 2:
                continue
            x, y = self.x[index].clone(), self.y[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            x[flip] = x[flip].flip(-1)
            logits = self.net(x.to(self.device))
            loss = F.cross_entropy(logits, y.to(self.device))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += len(index)
            correct += int((logits.argmax(1).cpu() == y).sum())
            loss_sum += loss.item() * len(index)
        self.epochs_done += 1
        return loss_sum / max(total, 1), correct / max(total, 1)

    def network(self):
        """The network in embedding mode (L2-normalised 512-d output), ready for ``embed_faces``."""
        self.net.classify = False
        return self.net.eval()

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epochs_done = int(state["epochs_done"])


def train_judge(images: np.ndarray, labels: np.ndarray, config: JudgeConfig, device: str = "cpu", report=None):
    """Train the judge for ``config.epochs``; returns the network in embedding mode.

    ``report(epoch, loss, accuracy)`` is called after each epoch when given (progress, logging).
    """
    trainer = JudgeTrainer(images, labels, config, device)
    for epoch in range(1, config.epochs + 1):
        loss, accuracy = trainer.epoch()
        if report is not None:
            report(epoch, loss, accuracy)
    return trainer.network()


@torch.no_grad()
def embed_faces(net, images, device: str = "cpu", batch_size: int = 64) -> torch.Tensor:
    """L2-normalised embeddings (N, 512) of uint8 NHWC crops or float NCHW [0, 1] images (any size >= 80 px)."""
    net.eval()
    x = to_network_input(images)
    out = [net(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return F.normalize(torch.cat(out), dim=1)


def unordered_pairs(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (i, j) with i < j of every pair of distinct items, and whether each pair shares a label."""
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    return i, j, labels[i] == labels[j]


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

    def as_dict(self) -> dict:
        return asdict(self)


def tau_grid(distance: str, step: float) -> np.ndarray:
    """Candidate thresholds covering every possible distance between unit vectors (2 for L2, 4 for squared L2)."""
    top = 2.0 if distance == "l2" else 4.0
    return np.round(np.arange(step, top + step / 2, step), 10)


def calibrate(embeddings: torch.Tensor, labels, distance: str = "sq_l2", criterion: str = "accuracy", step: float = 0.01) -> Calibration:
    """Choose tau on real-photo pairs; ties go to the smallest tau."""
    i, j, same = unordered_pairs(labels)
    if same.sum() == 0 or (~same).sum() == 0:
        raise UserError("tau calibration needs at least two photos of one identity and photos of two identities")
    d = pair_distance(embeddings[i], embeddings[j], kind=distance).cpu().numpy()
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
    )


def pair_verification(embeddings: torch.Tensor, labels, tau: float, distance: str) -> dict[str, float]:
    """Accuracy and F1 of "same iff d < tau" on every unordered pair of real photos (held-out photos in practice)."""
    i, j, same = unordered_pairs(labels)
    d = pair_distance(embeddings[i], embeddings[j], kind=distance).cpu().numpy()
    curve = threshold_curve(d, same, np.array([tau]))
    return {"accuracy": float(curve["accuracy"][0]), "f1": float(curve["f1"][0]), "n_pairs": int(len(d)), "n_same": int(same.sum())}
