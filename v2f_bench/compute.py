"""Compute accounting: what a trial spent (FLOPs, resource-seconds) and search budgets given in compute.

**FLOPs.** ``StepFlops`` counts the floating-point operations of a training step with torch's
``torch.utils.flop_counter.FlopCounterMode`` the first time a batch size is seen (so once per
trial for the full batches, once more for a smaller last batch), and reuses that count for later
steps of the same size; the counted step is a real step, not an extra one. The counter counts
matrix products and convolutions, forward and backward (2 x multiply-adds, so one multiply-add
is 2 FLOPs), which dominate these networks; element-wise work (activations, batch norm, the
optimizer's update) is not counted. The count depends only on the networks and the batch, so it
is the same on every machine: FLOPs are the default axis of a compute budget.

**Evaluation FLOPs.** What a trial spends outside its training steps to measure itself (validation and
test metrics, generating the faces it is judged on, the judge's embeddings of them) is counted apart, as
``eval_flops``, every call through the counter (``ComputeMeter.evaluate``): a family whose faces cost
many network passes (a diffusion sampler) pays for them there. ``total_flops`` is their sum. What one generated
face costs (``sample_flops``: one forward pass for the VAE and the GANs, the sampler's steps for diffusion) is
counted once per generator trial (``ComputeMeter.per_face``).

**What a FLOP budget counts** (``BUDGET_COUNTS``, ``--budget-counts``): ``train`` (the default) counts training
FLOPs only, so families are compared at equal training compute; ``train+eval`` counts evaluation too
(``total_flops``), so a family that pays per face (diffusion) trains for less. Every search record states which,
and so does every trial config that evaluates at rungs of its own ``budget_flops`` (``paper``'s profiles). Resource-second
budgets always count everything a trial held, evaluation included. Evaluation FLOPs include the metrics' own counted
work (KID's kernel matrices: about 13 GFLOP per test evaluation of 450 faces), the same for every family.
Under ``train+eval`` a rung is reached after an evaluation when that evaluation alone carries the count past it: the
trial then stands at that rung with the model it had (evaluated once), and when an evaluation carries the count past
the whole budget, the search's stopper ends the trial at that report, before the later rungs. Rungs stay apart only
when the budget exceeds 2^(rungs-1) x one evaluation's FLOPs.

**Resource-seconds.** ``ComputeMeter`` also tracks the wall time a trial has held its resources,
evaluation and checkpoints included, times the CPUs (``cpu_s``) and GPUs (``gpu_s``) it holds.
They say what a budget costs on a given cluster; they vary with the machine and its load.

**Budgets.** ``parse_compute_budget`` reads ``--compute-budget``: FLOPs as a number (``2e15``) or
with a unit (``2PFLOP``, ``350 TFLOP``), or resource-seconds (``600cpu-s``, ``2gpu-h``,
``30cpu-min``). ``BudgetStopper`` is the Ray Tune stopper that enforces it over all of a search's
trials: once the sum of the trials' latest cumulative counts reaches the amount, no new trial
starts and running trials stop at their next report.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from v2f_bench.errors import UserError

PRECISIONS = ("fp32", "bf16")
"""Training precisions of a generator step: float32, or bfloat16 autocast (matmuls and convolutions
in bf16, losses and reductions in float32 as autocast decides; weights stay float32)."""

COMPUTE_KEYS = ("train_flops", "train_steps", "images_seen", "eval_flops", "total_flops", "cpu_s", "gpu_s")
"""The cumulative compute every trial's report carries, whatever its task (``ComputeMeter.row``)."""

BUDGET_UNITS = {"flops": "train_flops", "cpu-s": "cpu_s", "gpu-s": "gpu_s"}
"""Unit of a compute budget -> the cumulative key each trial reports for it (a FLOP budget that counts evaluation:
``total_flops``, see ``ComputeBudget.key``)."""

BUDGET_COUNTS = ("train", "train+eval")
"""What a FLOP budget counts: training FLOPs, or training and evaluation FLOPs (``--budget-counts``)."""


def counted_flops_key(counts: str) -> str:
    """The cumulative count a FLOP budget that counts ``counts`` (``BUDGET_COUNTS``) reads: ``train_flops``, or
    ``total_flops`` (training and evaluation) under "train+eval" (a ``ComputeMeter`` attribute and a report key alike)."""
    return "total_flops" if counts == "train+eval" else "train_flops"

_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
_SECONDS = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_NUMBER = r"(?P<number>\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)"
_FLOPS = re.compile(_NUMBER + r"\s*(?:(?P<prefix>[kmgtpe]?)flops?)?$", re.IGNORECASE)
_RESOURCE = re.compile(_NUMBER + r"\s*(?P<kind>cpu|gpu)[-_ ]?(?P<time>s|sec|min|h)$", re.IGNORECASE)


def spent_key(unit: str) -> str:
    """The key of a budget unit's total in ``spent``: flops, cpu_s or gpu_s."""
    return unit.replace("-", "_")


@dataclass(frozen=True)
class ComputeBudget:
    """A search's compute budget: ``amount`` in ``unit`` (``flops``, ``cpu-s`` or ``gpu-s``), summed over its trials."""

    amount: float
    unit: str
    text: str
    counts: str = "train"
    """``BUDGET_COUNTS``: "train" or "train+eval" for FLOPs; resource-seconds are always "train+eval"."""

    @property
    def key(self) -> str:
        """The cumulative metric every trial reports for this unit (and, for FLOPs, what it counts)."""
        return counted_flops_key(self.counts) if self.unit == "flops" else BUDGET_UNITS[self.unit]

    @property
    def spent_key(self) -> str:
        return spent_key(self.unit)

    def counted(self, totals: dict) -> float:
        """What this budget counts of a search's ``spent`` totals: its unit's total, plus evaluation FLOPs for a FLOP
        budget that counts them."""
        value = float(totals.get(self.spent_key, 0.0))
        return value + float(totals.get("eval_flops", 0.0)) if self.key == "total_flops" else value

    def as_dict(self) -> dict:
        return {"amount": self.amount, "unit": self.unit, "text": self.text, "counts": self.counts}


def parse_compute_budget(text: str, counts: str = "train") -> ComputeBudget:
    """``2e15`` / ``2PFLOP`` -> FLOPs; ``600cpu-s`` / ``2gpu-h`` -> resource-seconds; a one-line ``UserError`` otherwise.
    ``counts`` (``BUDGET_COUNTS``) says whether a FLOP budget counts evaluation; resource-seconds always do."""
    if counts not in BUDGET_COUNTS:
        raise UserError(f"--budget-counts {counts!r}: choose one of {', '.join(BUDGET_COUNTS)}")
    given = str(text).strip()
    flops, resource = _FLOPS.match(given), _RESOURCE.match(given)
    if flops:
        amount, unit = float(flops["number"]) * _PREFIX[(flops["prefix"] or "").lower()], "flops"
    elif resource:
        amount, unit = float(resource["number"]) * _SECONDS[resource["time"].lower()], f"{resource['kind'].lower()}-s"
    else:
        raise UserError(f"--compute-budget {text!r}: not a compute amount; write FLOPs (2e15, 2PFLOP) or resource-seconds (600cpu-s, 2gpu-h)")
    if not amount > 0:
        raise UserError(f"--compute-budget {text!r}: must be positive")
    return ComputeBudget(amount, unit, given, counts if unit == "flops" else "train+eval")


def format_flops(value: float) -> str:
    """FLOPs with an SI prefix, e.g. 2.31 PFLOP."""
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}FLOP"
    return f"{value:.3g} FLOP"


def compute_line(row: dict) -> str:
    """A report row's cumulative compute in words, e.g. '2.31 TFLOP over 147 steps (9,408 images), evaluation 0.4 TFLOP, 61 CPU-s'."""
    text = f"{format_flops(row['train_flops'])} over {row['train_steps']:,} steps ({row['images_seen']:,} images)"
    text += f", evaluation {format_flops(row['eval_flops'])}" if "eval_flops" in row else ""
    text += f", {row['cpu_s']:.0f} CPU-s"
    return text + (f", {row['gpu_s']:.0f} GPU-s" if row.get("gpu_s") else "")


def autocast(precision: str, device: torch.device):
    """The context a training step runs in for ``precision`` (``PRECISIONS``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def training_step(family, precision: str, memory, dev: torch.device):
    """``step(voice, faces) -> losses``: one ``family.train_step`` on a batch moved to ``dev`` in ``memory``
    layout (``torch.channels_last`` or ``torch.contiguous_format``), under ``precision``'s autocast.

    The generator trainable's step, here (torch only) so that the benchmarks and GPU checks time the
    same function without importing the trainable's dependencies."""

    def step(voice_batch, face_batch):
        with autocast(precision, dev):
            return family.train_step(voice_batch.to(dev), face_batch.to(dev).contiguous(memory_format=memory))

    return step


class StepFlops:
    """FLOPs of one training step per batch size, counted on the first step of each size."""

    def __init__(self):
        self.per_batch: dict[int, int] = {}

    def run(self, batch: int, step):
        """Call ``step()`` (a real training step of ``batch`` samples); returns (its result, its FLOPs)."""
        if batch in self.per_batch:
            return step(), self.per_batch[batch]
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            result = step()
        self.per_batch[batch] = int(counter.get_total_flops())
        return result, self.per_batch[batch]


class ComputeMeter:
    """A trial's cumulative compute: FLOPs, steps and images of training, and resource-seconds held.

    ``state()`` goes into every checkpoint, so a resumed trial continues its counts; the wall time
    of a restart counts from the resume.
    """

    def __init__(self, cpus: float, gpus: float, state: dict | None = None, started: float | None = None):
        self.cpus, self.gpus = float(cpus), float(gpus)
        state = state or {}
        self.train_flops = float(state.get("train_flops", 0.0))
        self.train_steps = int(state.get("train_steps", 0))
        self.images_seen = int(state.get("images_seen", 0))
        self.eval_flops = float(state.get("eval_flops", 0.0))
        self._held_before = float(state.get("held_s", 0.0))
        self._started = time.perf_counter() if started is None else started
        self.step_flops = StepFlops()

    @property
    def total_flops(self) -> float:
        """Training and evaluation FLOPs so far."""
        return self.train_flops + self.eval_flops

    def step(self, batch: int, step):
        """Run one training step of ``batch`` images through the FLOP counter and add it to the totals."""
        result, flops = self.step_flops.run(batch, step)
        self.train_flops += flops
        self.train_steps += 1
        self.images_seen += batch
        return result

    def evaluate(self, work):
        """Run ``work()`` (evaluation: no training step) through the FLOP counter and add its FLOPs to ``eval_flops``."""
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            result = work()
        self.eval_flops += counter.get_total_flops()
        return result

    def per_face(self, generate_one) -> int:
        """FLOPs of ``generate_one()``, which generates one face: a family's sampling cost per face, whatever its batch
        (the counted ops scale with the batch). The pass is evaluation and is added to ``eval_flops``."""
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            generate_one()
        flops = int(counter.get_total_flops())
        self.eval_flops += flops
        return flops

    @property
    def held_s(self) -> float:
        return self._held_before + time.perf_counter() - self._started

    def row(self) -> dict:
        """The cumulative values every report carries."""
        held = self.held_s
        return {"train_flops": self.train_flops, "train_steps": self.train_steps, "images_seen": self.images_seen,
                "eval_flops": self.eval_flops, "total_flops": self.total_flops, "cpu_s": held * self.cpus, "gpu_s": held * self.gpus}

    def state(self) -> dict:
        return {"train_flops": self.train_flops, "train_steps": self.train_steps, "images_seen": self.images_seen,
                "eval_flops": self.eval_flops, "held_s": self.held_s}


def trial_resources() -> tuple[float, float]:
    """(CPUs, GPUs) the current Ray Tune trial holds; outside Tune, torch's threads and 1 GPU if CUDA is used."""
    try:
        from ray import tune

        required = tune.get_context().get_trial_resources().required_resources
        return float(required.get("CPU", 0.0)), float(required.get("GPU", 0.0))
    except Exception:  # not inside a Tune trial (benchmarks, GPU checks, tests)
        return float(torch.get_num_threads()), 1.0 if torch.cuda.is_available() else 0.0


def make_stopper(budget: ComputeBudget):
    """A Ray Tune ``Stopper`` that ends the search once its trials together spent ``budget``.

    Each trial's latest report carries its cumulative count (``budget.key``); the spent compute is
    the sum over trials of those latest values. ``__call__`` (after each report) and ``stop_all``
    return True once it reaches the amount: Tune then stops every running trial and starts no new
    one, so a search ends within one report of its budget.
    """
    from ray.tune import Stopper

    class BudgetStopper(Stopper):
        def __init__(self):
            self.budget = budget
            self.by_trial: dict[str, float] = {}

        @property
        def spent(self) -> float:
            return sum(self.by_trial.values())

        @property
        def exhausted(self) -> bool:
            return self.spent >= self.budget.amount

        def __call__(self, trial_id: str, result: dict) -> bool:
            value = result.get(self.budget.key)
            if isinstance(value, int | float):
                self.by_trial[trial_id] = float(value)
            return self.exhausted

        def stop_all(self) -> bool:
            return self.exhausted

    return BudgetStopper()


def spent(results) -> dict:
    """What a search's trials spent in total, from each trial's last report (a Ray ``ResultGrid``): training FLOPs
    (``flops``), evaluation FLOPs, resource-seconds and the number of trials."""
    totals = {"flops": 0.0, "eval_flops": 0.0, "cpu_s": 0.0, "gpu_s": 0.0, "trials": 0}
    for result in results:
        last = result.metrics or {}
        totals["trials"] += 1
        for unit, key in {**BUDGET_UNITS, "eval_flops": "eval_flops"}.items():
            value = last.get(key)
            totals[spent_key(unit)] += float(value) if isinstance(value, int | float) else 0.0
    return totals
