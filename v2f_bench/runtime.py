"""Where a trial computes and how it is seeded: the device, the seeds, and the few rules every task's loop shares.

A trial uses CUDA when present and the CPU otherwise; it seeds Python, numpy and torch from its
``seed``; a NaN or infinite loss ends it as ``TrialDiverged`` (Ray records an errored trial, Optuna a
failed one; reporting NaN instead would leave the Optuna trial running forever, REFERENCE.md section 4).
"""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import torch


class TrialDiverged(RuntimeError):
    """A loss became NaN or infinite; the trial ends as failed."""


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor view of an object-store array, without a copy.

    Arrays from Ray's object store are read-only; torch warns about that because it cannot
    protect them from writes. Trials only read them, and copying would give every
    concurrent trial its own copy of the prepared data.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array)


def finite_or_raise(values: dict[str, float], where: str) -> None:
    """``TrialDiverged`` when any float in ``values`` is NaN or infinite."""
    bad = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        raise TrialDiverged(f"{where}: non-finite values {bad}; the trial diverged (try a lower learning rate)")
