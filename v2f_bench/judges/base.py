"""The interface every face judge implements.

A judge is an identity oracle: it maps face images to L2-normalised embedding rows, and two faces
are "the same person" when their distance is below a threshold tau. Tau is not the judge's business:
``judge.calibrate`` chooses it on real photo pairs for every judge alike, and its grid assumes unit
vectors, which is why ``embed`` must return unit rows.

A judge class sets three class attributes and implements five methods (and may override ``fit_rows``):

- ``name``: the registry key (``--judge NAME``); ``summary``: one line for ``--judge``'s help,
  including what embedding costs when that is notable.
- ``pretrained``: True when the judge comes ready-made (weights from a local file or an installed
  package): ``fit`` then raises. False when ``fit`` must train it on the train photos first.
- ``input_size``: the square pixel size it embeds at. Judges whose network takes any size (facenet)
  embed at the prepared judge crop size, passed to ``__init__``; a fixed-size judge (dlib: 150)
  ignores that argument.
- ``__init__(config, device, input_size)``: build the judge (load pretrained weights; a missing file
  is a one-line ``UserError``). ``check(config)`` (classmethod) is the same check without the cost of
  building, run by the CLI before any stage starts.
- ``fit(faces, labels, report=None)``: train on uint8 (N, H, W, 3) crops and integer labels;
  ``report(epoch, loss, accuracy)`` after each epoch. The judge stage calls ``fit_rows`` instead, with the
  photos as a trial's rows (``data.batches``, read a batch at a time, streamed from the face shards when they do
  not fit in memory); by default it gathers the wanted photos and calls ``fit``, and a judge that can train from
  batches (``trained``) overrides it.
- ``embed(images)``: (N, embedding_dim) float32 CPU tensor of unit rows, from uint8 (N, H, W, 3) crops
  or float (N, 3, H, W) images in [0, 1] of any size (the judge resizes to ``input_size`` itself).
  Generated faces and prepared crops share one layout, so both go through the same call.
- ``state()`` / ``from_state(state, device)``: everything a generator trial on a Ray worker needs to
  rebuild the judge, as tensors, dicts, lists, strings and numbers only (it must survive ``torch.save``
  and ``torch.load(weights_only=True)``); weights that live in an installed package stay out of it.

Adding a judge: one module with a ``Judge`` subclass and one line in ``registry.JUDGES`` (or a call to
``registry.register_judge`` from your own code). The CLI, ``JudgeConfig.validate``, the judge stage,
the generator trial and the report find it there.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from v2f_bench.hyperparameters import Hyper
from v2f_bench.judge import JudgeConfig


class Judge:
    """Base class of a face judge; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    pretrained: ClassVar[bool] = True
    input_size: int = 96
    embedding_dim: int = 0
    hyperparameters: ClassVar[dict[str, Hyper]] = {}
    """A searchable judge's trial hyperparameters (``targets.judge_target``); pretrained judges have none."""
    objective: ClassVar[tuple[str, str] | None] = None
    """A searchable judge's (validation metric its trial reports, max or min)."""

    def __init__(self, config: JudgeConfig, device="cpu", input_size: int | None = None):
        self.config = config
        self.device = torch.device(device)
        if input_size is not None:
            self.input_size = int(input_size)

    @classmethod
    def check(cls, config: JudgeConfig) -> None:
        """Raise the one-line ``UserError`` that building this judge would raise (e.g. a missing weight file)."""

    def fit(self, faces: np.ndarray, labels: np.ndarray, report=None) -> None:
        raise ValueError(f"the {self.name!r} judge is pretrained; there is nothing to fit")

    def fit_rows(self, rows, wanted: np.ndarray, labels: np.ndarray, report=None) -> None:
        """Fit on the photos where ``wanted`` holds, of ``rows`` (``batches.InMemoryRows``/``StreamedRows``); ``labels``:
        every row's label. By default the wanted photos are gathered whole and passed to ``fit``."""
        parts = list(rows.batches(wanted, 256))
        if not parts:
            raise ValueError("no photo to fit the judge on")
        index = np.concatenate([i for i, _ in parts])
        self.fit(np.concatenate([np.asarray(b) for _, b in parts]), np.asarray(labels)[index], report)

    def embed(self, images) -> torch.Tensor:
        raise NotImplementedError

    def state(self) -> dict:
        return {"config": self.config.as_dict(), "input_size": self.input_size}

    @classmethod
    def from_state(cls, state: dict, device="cpu") -> Judge:
        return cls(JudgeConfig(**state["config"]), device, input_size=state["input_size"])


def as_float_images(images, size: int | None = None) -> torch.Tensor:
    """uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1] -> float (N, 3, size, size) in [0, 1] on the CPU.

    Resizing is bilinear (``align_corners=False``), as generated 64-px faces were always brought to
    the judge's size; images already at ``size`` are left untouched.
    """
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    x = x.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.permute(0, 3, 1, 2).float() / 255.0
    x = x.float()
    if size is not None and tuple(x.shape[-2:]) != (size, size) and len(x):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def as_uint8_crops(images) -> np.ndarray:
    """uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1] -> contiguous uint8 (N, H, W, 3), sizes kept."""
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    x = x.detach().cpu()
    if x.dtype != torch.uint8:
        x = (x.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1)
    return np.ascontiguousarray(x.numpy())
