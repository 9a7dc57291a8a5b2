"""facenet-pytorch's InceptionResnetV1 as a judge: trained here, or with facenet-pytorch's pretrained weights.

- ``trained``: the network trained here as an identity classifier on the train split's real photos
  (cross-entropy, Adam, random horizontal flips); its pre-logit embedding is the judge.
- ``vggface2`` / ``casia-webface``: facenet-pytorch's pretrained weights, read from a local file
  (``--judge-weights``, or ``$TORCH_HOME/checkpoints/<file>`` where facenet-pytorch caches them).
  Nothing is downloaded; a missing file is a one-line error that says where to put it.

The embedding is 512-d and L2-normalised (InceptionResnetV1 normalises its output). The network takes
any input of at least 75 px and embeds at the prepared judge crop size (``--judge-size``: 96, the
paper's; 160, what the pretrained weights were trained at); generated faces are resized to it.
Its state carries the weights, so a generator trial on another node needs no weight file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from v2f_bench.errors import UserError
from v2f_bench.judge import JUDGE_HYPERS, JUDGE_OBJECTIVE, JudgeConfig
from v2f_bench.judges.base import Judge, as_float_images


def facenet_network(n_classes: int, state: dict | None = None, embedding: bool = False):
    """The judge network, built in this one place: facenet-pytorch's InceptionResnetV1 with an
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


@torch.no_grad()
def embed_rows(net, rows, wanted: np.ndarray, size: int, device="cpu", batch_size: int = 64) -> tuple[np.ndarray, torch.Tensor]:
    """(row indices, unit embeddings) of the photos of ``rows`` (``data.batches``) where ``wanted`` holds, in storage
    order, read and embedded ``batch_size`` at a time."""
    parts = [(index, embed_with(net, images, size, device, batch_size)) for index, images in rows.batches(wanted, batch_size)]
    if not parts:
        return np.zeros(0, dtype=np.int64), torch.zeros(0, 512)
    return np.concatenate([i for i, _ in parts]), torch.cat([e for _, e in parts])


@torch.no_grad()
def embed_with(net, images, size: int, device="cpu", batch_size: int = 64) -> torch.Tensor:
    """Unit rows (N, 512) on the CPU of ``images`` (see ``Judge.embed``) resized to ``size``: facenet's input is 2x - 1.
    Converted a batch at a time, so only one batch of the photos is ever held as floats."""
    net.eval()
    out = [net((as_float_images(images[i : i + batch_size], size) * 2.0 - 1.0).to(device)).cpu() for i in range(0, len(images), batch_size)]
    return F.normalize(torch.cat(out) if out else torch.zeros(0, 512), dim=1)


FLIP_SEED = 1 << 40
"""Added to an epoch's seed (seed * 1000 + epoch, as ``batches.shard_order`` seeds the photos' order) for the flips."""


class FacenetTrainer:
    """InceptionResnetV1 trained as an identity classifier, one epoch at a time (cross-entropy,
    Adam, random horizontal flips), with its state for checkpoints (the judge search resumes from it).

    The photos come as a trial's rows (``data.batches``: held whole, or streamed from the face shards), the training ones
    where ``wanted`` holds; ``labels`` holds every row's label. An epoch reads them in ``batches.shard_order``'s seeded
    order, a batch at a time, converted to floats as it is drawn."""

    def __init__(self, rows, wanted: np.ndarray, labels: np.ndarray, config: JudgeConfig, device="cpu"):
        torch.manual_seed(config.seed)
        self.config, self.device, self.epochs_done = config, device, 0
        self.rows, self.wanted = rows, np.asarray(wanted, dtype=bool)
        if not self.wanted.any():
            raise ValueError("no training photo to fit the judge on (the train split holds none)")
        self.n_classes = int(np.max(np.asarray(labels)[self.wanted])) + 1
        self.net = facenet_network(self.n_classes).to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.y = torch.as_tensor(np.asarray(labels), dtype=torch.long)

    def epoch(self, meter=None) -> tuple[float, float]:
        """Train one epoch; returns (mean loss, accuracy) on the training photos. Each step goes through
        ``meter`` (a ``compute.ComputeMeter``: its FLOPs, steps and images) when given."""
        self.net.classify = True
        self.net.train()
        flips = torch.Generator().manual_seed(FLIP_SEED + self.config.seed * 1000 + self.epochs_done)
        total, correct, loss_sum = 0, 0, 0.0
        for index, images in self.rows.batches(self.wanted, self.config.batch_size, self.config.seed, self.epochs_done):
            if len(index) < 2:
                continue
            x, y = as_float_images(images) * 2.0 - 1.0, self.y[torch.as_tensor(index)]
            flip = torch.rand(len(index), generator=flips) < 0.5
            x[flip] = x[flip].flip(-1)
            logits, loss = meter.step(len(index), lambda: self._step(x, y)) if meter is not None else self._step(x, y)
            total += len(index)
            correct += int((logits.argmax(1).cpu() == y).sum())
            loss_sum += loss.item() * len(index)
        self.epochs_done += 1
        return loss_sum / max(total, 1), correct / max(total, 1)

    def _step(self, x, y):
        logits = self.net(x.to(self.device))
        loss = F.cross_entropy(logits, y.to(self.device))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return logits, loss

    def network(self):
        """The network in embedding mode (L2-normalised 512-d output)."""
        self.net.classify = False
        return self.net.eval()

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epochs_done = int(state["epochs_done"])


class FacenetJudge(Judge):
    """What the three facenet judges share: the network, its embedding and its state (weights included)."""

    embedding_dim = 512

    def __init__(self, config: JudgeConfig, device="cpu", input_size: int | None = None, net=None, n_classes: int | None = None):
        super().__init__(config, device, input_size)
        self.net = None if net is None else net.to(self.device)
        self.n_classes = n_classes

    def embed(self, images) -> torch.Tensor:
        if self.net is None:
            raise ValueError(f"the {self.name!r} judge has not been fitted; call fit first")
        return embed_with(self.net, images, self.input_size, self.device)

    def state(self) -> dict:
        if self.net is None:
            raise ValueError(f"the {self.name!r} judge has not been fitted; call fit first")
        return {**super().state(), "n_classes": int(self.n_classes), "net": {k: v.cpu() for k, v in self.net.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict, device="cpu") -> FacenetJudge:
        net = facenet_network(state["n_classes"], state["net"], embedding=True)
        return cls(JudgeConfig(**state["config"]), device, input_size=state["input_size"], net=net, n_classes=state["n_classes"])


class TrainedFacenet(FacenetJudge):
    name = "trained"
    summary = "facenet's InceptionResnetV1 trained here on the train photos (the default; --judge-epochs)"
    pretrained = False
    hyperparameters = JUDGE_HYPERS
    objective = JUDGE_OBJECTIVE

    def fit(self, faces: np.ndarray, labels: np.ndarray, report=None) -> None:
        """Train for ``config.epochs`` on ``faces``; ``report(epoch, loss, accuracy)`` after each epoch when given."""
        from v2f_bench.data.batches import InMemoryRows, ShardLayout

        faces = np.asarray(faces)
        self.fit_rows(InMemoryRows(ShardLayout.in_memory(faces), faces), np.ones(len(faces), dtype=bool), labels, report)

    def fit_rows(self, rows, wanted: np.ndarray, labels: np.ndarray, report=None) -> None:
        """Train for ``config.epochs`` on the photos of ``rows`` where ``wanted`` holds, a batch at a time."""
        trainer = FacenetTrainer(rows, wanted, labels, self.config, self.device)
        for epoch in range(1, self.config.epochs + 1):
            loss, accuracy = trainer.epoch()
            if report is not None:
                report(epoch, loss, accuracy)
        self.net, self.n_classes = trainer.network(), trainer.n_classes


class PretrainedFacenet(FacenetJudge):
    """facenet-pytorch's pretrained weights from a local file: subclasses name the file and its class count."""

    file_name: str = ""
    n_logits: int = 0

    def __init__(self, config: JudgeConfig, device="cpu", input_size: int | None = None, net=None, n_classes: int | None = None):
        if net is None:
            net, n_classes = self.load(config), self.n_logits
        super().__init__(config, device, input_size, net, n_classes)

    @classmethod
    def weights_path(cls, config: JudgeConfig) -> Path:
        if config.weights:
            return Path(config.weights)
        torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
        return torch_home / "checkpoints" / cls.file_name

    @classmethod
    def check(cls, config: JudgeConfig) -> None:
        path = cls.weights_path(config)
        if not path.is_file():
            raise UserError(
                f"judge weights {cls.name!r} not found at {path}: copy facenet-pytorch's {cls.file_name} there "
                "(or pass --judge-weights FILE), or use --judge trained to train the judge on the train photos"
            )

    @classmethod
    def load(cls, config: JudgeConfig):
        """The pretrained network from its local file; a one-line error when the file is absent or not these weights."""
        cls.check(config)
        path = cls.weights_path(config)
        try:
            return facenet_network(cls.n_logits, torch.load(path, map_location="cpu", weights_only=True), embedding=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise UserError(f"{path}: not facenet-pytorch {cls.name} weights ({str(exc).splitlines()[0]})") from None


class VGGFace2Facenet(PretrainedFacenet):
    name = "vggface2"
    summary = "facenet's InceptionResnetV1 pretrained on VGGFace2 (local file: --judge-weights or $TORCH_HOME/checkpoints)"
    file_name, n_logits = "20180402-114759-vggface2.pt", 8631


class CasiaWebfaceFacenet(PretrainedFacenet):
    name = "casia-webface"
    summary = "facenet's InceptionResnetV1 pretrained on CASIA-WebFace (local file, as vggface2)"
    file_name, n_logits = "20180408-102900-casia-webface.pt", 10575
