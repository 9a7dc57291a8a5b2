"""The interface every generator family implements.

A family turns a voice embedding (B, embed_dim) into a face (B, 3, S, S) in [0, 1]. It owns
its networks and optimizers, so a trainable only needs to call ``train_step`` on batches,
``generate`` for evaluation, and ``state_dict``/``load_state_dict`` for checkpoints. Seeding
is the caller's job: a family draws from torch's global generators and never seeds them.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from v2f_bench.compute import PRECISIONS
from v2f_bench.hyperparameters import Hyper, check_config

TARGET_CHOICES = ("seeded", "last")
PAIRING_CHOICES = ("target", "all-faces")
IMAGE_SIZES = (32, 64)

GENERATOR_HYPERS: dict[str, Hyper] = {
    "batch_size": Hyper(64, "voice windows per step", minimum=1),
    "max_epochs": Hyper(20, "epochs to train (a cap, with budget_flops); set by a search's budget", minimum=1),
    "target": Hyper("seeded", "which photo of an identity is its target face: one drawn per seed, or the last", TARGET_CHOICES),
    "pairing": Hyper("target", "a voice trains against its identity's target face, or against every face of the identity", PAIRING_CHOICES),
    "precision": Hyper("fp32", "fp32, or bf16 autocast of the training step (evaluation stays float32, see compute.autocast)", PRECISIONS),
    "channels_last": Hyper(False, "networks and face batches in NHWC memory layout"),
    "image_size": Hyper(64, "side of the generated faces: 64 (the paper's), or 32: the family trains on the faces area-downsampled "
                        "to 32 and its faces are upsampled (bilinear) to 64 for the judge, Table II and the samples", IMAGE_SIZES),
    "budget_flops": Hyper(0.0, "training FLOPs of the trial: when > 0 it trains until they are spent (max_epochs still caps it, and the "
                          "report flags a cap that binds) and evaluates at the rungs; 0 = it evaluates after every epoch", minimum=0),
    "budget_counts": Hyper("train", "what budget_flops counts: training FLOPs, or training and evaluation FLOPs (generating and judging "
                           "the faces each rung is measured on)", ("train", "train+eval")),
    "rungs": Hyper(5, "evaluation points of a budget_flops trial, halving from the top: 1/2^(rungs-1), ..., 1/4, 1/2, 1 of "
                   "budget_flops", minimum=1),
    "seed": Hyper(0, "seeds Python, numpy and torch; set by a search", minimum=0),
}
"""The settings every family's trial takes (the generator task's loop reads them), beside the family's own
(``GeneratorFamily.defaults``) in the same flat config; a family may not declare one of these names."""

STUDY_SETTINGS = frozenset({"budget_flops", "budget_counts", "rungs"})
"""Settings a study fixes for every trial alike (``--compute-budget`` and the profile), never searched: a sampled trial
budget would make the compute unequal."""


def reports_per_trial(config: dict, max_epochs: int | None) -> int | None:
    """How many reports a trial that runs to its end makes: one per rung for a generator trial with ``budget_flops`` > 0
    (``rungs``, default ``GENERATOR_HYPERS``'), else one per epoch up to ``max_epochs`` (ASHA's ``max_t``; the report's
    "completed")."""
    budget = config.get("budget_flops")
    if isinstance(budget, int | float) and not isinstance(budget, bool) and budget > 0:
        return int(config.get("rungs", GENERATOR_HYPERS["rungs"].default))
    return max_epochs


class GeneratorFamily:
    """Base class of a voice-to-face generator family.

    Subclasses set ``name`` and ``defaults`` (``name -> Hyper``, checked by
    ``hyperparameters.check_config``) and implement ``build``, ``_train_step`` and
    ``_generate``. ``build`` must fill ``self.networks`` and ``self.optimizers``: those two
    dicts are what ``state_dict`` saves and ``train_step``/``generate`` switch between
    train and eval mode.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Hyper]] = {}
    reference: ClassVar[bool] = False
    """A baseline fitted once rather than trained (``ReferenceFamily``)."""

    def __init__(self, config: dict | None = None, embed_dim: int = 128, image_size: int = 64, device="cpu"):
        self.hparams = check_config(self.defaults, config or {}, self.name)
        self.embed_dim = int(embed_dim)
        self.image_size = int(image_size)
        self.device = torch.device(device)
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.build()
        for net in self.networks.values():
            net.to(self.device)

    @classmethod
    def describe(cls) -> dict[str, tuple[Any, str]]:
        """Every accepted hyperparameter as ``name -> (default, doc)``."""
        return {k: (h.default, h.doc) for k, h in cls.defaults.items()}

    def build(self) -> None:
        """Create ``self.networks`` and ``self.optimizers`` from ``self.hparams``."""
        raise NotImplementedError

    def _train_step(self, voice: Tensor, face: Tensor) -> dict[str, Tensor]:
        """One optimisation step on tensors already on ``self.device``; returns the losses."""
        raise NotImplementedError

    def _generate(self, voice: Tensor) -> Tensor:
        """Faces in [0, 1] for ``voice``; called in eval mode without gradients."""
        raise NotImplementedError

    def train_step(self, voice: Tensor, face: Tensor) -> dict[str, float]:
        """One optimisation step on a batch; returns that step's losses as floats.

        ``voice`` is (B, embed_dim); ``face`` is (B, 3, image_size, image_size) in [0, 1].
        Raises ``FloatingPointError`` if a loss is NaN or infinite.
        """
        voice = self._voice(voice)
        if not face.is_floating_point():
            raise ValueError(f"faces must be floats in [0, 1], got {face.dtype} (divide uint8 crops by 255)")
        face = face.to(self.device, torch.float32)
        want = (voice.shape[0], 3, self.image_size, self.image_size)
        if tuple(face.shape) != want:
            raise ValueError(f"face batch must have shape {want}, got {tuple(face.shape)}")
        for net in self.networks.values():
            net.train()
        losses = self._train_step(voice, face)
        return {k: float(v) for k, v in losses.items()}

    @torch.no_grad()
    def generate(self, voice: Tensor) -> Tensor:
        """Faces (B, 3, image_size, image_size) in [0, 1] on ``self.device``, in eval mode."""
        voice = self._voice(voice)
        for net in self.networks.values():
            net.eval()
        return self._generate(voice)

    def state_dict(self) -> dict:
        """A deep copy of every network's and optimizer's state, plus the family name and hparams."""
        return copy.deepcopy(
            {
                "family": self.name,
                "hparams": dict(self.hparams),
                "networks": {k: n.state_dict() for k, n in self.networks.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            }
        )

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved; the family and hyperparameters must match this instance's."""
        if state.get("family") != self.name:
            raise ValueError(f"state is for family {state.get('family')!r}, not {self.name!r}")
        differ = sorted(k for k in self.hparams if state["hparams"].get(k) != self.hparams[k])
        if differ:
            raise ValueError(f"state was saved with other hyperparameters: {', '.join(differ)}")
        for k, net in self.networks.items():
            net.load_state_dict(state["networks"][k])
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])

    def _voice(self, voice: Tensor) -> Tensor:
        voice = voice.to(self.device, torch.float32)
        if voice.ndim != 2 or voice.shape[1] != self.embed_dim:
            raise ValueError(f"voice batch must have shape (B, {self.embed_dim}), got {tuple(voice.shape)}")
        return voice

    def _check_finite(self, **losses: Tensor) -> None:
        """Raise ``FloatingPointError`` before a non-finite loss reaches an optimizer."""
        bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
        if bad:
            values = ", ".join(f"{k}={float(losses[k].detach())}" for k in bad)
            raise FloatingPointError(
                f"{self.name}: non-finite loss ({values}); the inputs contain NaN/inf or training "
                "diverged (try a lower learning rate)"
            )


class ReferenceFamily(GeneratorFamily):
    """A baseline that is fitted in one pass over the training data, not trained by steps: it has no optimizer and
    spends no budget, and it runs in a study as a reference row that every trained family should beat.

    The generator loop calls ``fit`` once with every training window's voice embedding and identity and every
    training photo with its identity (faces at the trial's ``image_size``), then evaluates the fitted model once; under
    a FLOP budget that one model stands at every rung (its trial reports ``reference`` 1, and the report keeps it out of
    the equal-compute checks). ``train_step`` is not used. Subclasses implement ``fit`` and ``_generate`` and keep what
    they fit in ``self.networks`` (``Memory`` modules), so that checkpoints hold it.
    """

    reference: ClassVar[bool] = True

    def fit(self, voice: Tensor, labels: Tensor, faces: Tensor, face_labels: Tensor) -> None:
        """Fit on voice embeddings (N, embed_dim) of identities ``labels`` (N,) and faces (M, 3, S, S) in [0, 1] of
        identities ``face_labels`` (M,)."""
        raise NotImplementedError

    def _train_step(self, voice: Tensor, face: Tensor) -> dict[str, Tensor]:
        raise TypeError(f"{self.name} is a reference family: it is fitted once (fit), not trained by steps")


class Memory(nn.Module):
    """Tensors a reference family fitted, kept as buffers whose shapes are set by the data (so a checkpoint of any
    size loads into a fresh instance)."""

    def __init__(self, **tensors: Tensor):
        super().__init__()
        for key, value in tensors.items():
            self.register_buffer(key, value)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        for key in list(self._buffers):
            if prefix + key in state_dict:
                self._buffers[key] = state_dict[prefix + key].detach().clone()
            elif strict:
                missing_keys.append(prefix + key)

