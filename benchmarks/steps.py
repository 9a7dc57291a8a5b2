"""Shared by the CPU ``train`` section and the ``gpu`` section: a family's training step in a given
precision and memory layout, its FLOPs, its timing, and the table rows built from them.

The step is ``v2f_bench.compute.training_step``, the function the generator trainable runs, on a
freshly seeded family whose networks are in the step's memory layout (as ``generator_epochs`` does).
Batches come from random data held on the CPU and indexed with a shuffled permutation, as in the
trainable's loop, so the step's host-to-device copy is part of what is timed. Imports torch only:
the GPU check runs on machines without numpy or Ray.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from benchmarks.results import Row
from v2f_bench.compute import StepFlops, training_step
from v2f_bench.models.registry import get_family

VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "channels_last": ("fp32", True), "bf16+channels_last": ("bf16", True)}
"""Variant name -> (``precision``, ``channels_last``) as the trainable's config spells them; ``fp32`` is the baseline."""


def family_config(name: str, width: int | None) -> dict:
    """The family's config at generator and discriminator width ``width`` (GANs only; None = the default, 64)."""
    return {} if width is None or name == "vae" else {"g_channels": width, "d_channels": width}


def make_step(name: str, variant: str, device: torch.device, width: int | None = None, seed: int = 0):
    """The trainable's ``step(voice, faces) -> losses`` for family ``name`` in ``variant`` (``VARIANTS``)."""
    precision, channels_last = VARIANTS[variant]
    memory = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(seed)
    family = get_family(name)(family_config(name, width), device=device)
    for net in family.networks.values():
        net.to(memory_format=memory)
    return training_step(family, precision, memory, device)


def random_data(samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` random 128-d voice embeddings and 64x64 RGB faces in [0, 1], on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(samples, 128, generator=generator), torch.rand(samples, 3, 64, 64, generator=generator)


def indexed_batches(voice, faces, batch_size: int, generator):
    """Endless (voice, faces) batches: both tensors indexed by a shuffled permutation per pass (the trainable's loop)."""
    while True:
        order = torch.randperm(len(voice), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield voice[index], faces[index]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_for(step, batches, device: torch.device, steps: int | None = None, seconds: float | None = None) -> tuple[int, float]:
    """Run ``step`` on ``batches`` until ``steps`` steps or ``seconds`` of wall time, whichever comes first
    (at least one step); returns (steps run, seconds from the first step's start to the device's last
    finished kernel)."""
    if steps is None and seconds is None:
        raise ValueError("train_for needs steps or seconds")
    synchronize(device)
    start = time.perf_counter()
    done = 0
    while True:
        step(*next(batches))
        done += 1
        if (steps is not None and done >= steps) or (seconds is not None and time.perf_counter() - start >= seconds):
            break
    synchronize(device)
    return done, time.perf_counter() - start


def step_flops(step, batches, batch: int) -> int:
    """FLOPs of one step of ``batch`` samples, counted by ``compute.StepFlops`` on a real step."""
    return StepFlops().run(batch, lambda: step(*next(batches)))[1]


@dataclass(frozen=True)
class Timing:
    """One measured configuration: seconds per step of ``batch`` images and FLOPs per step."""

    family: str
    width: int | None
    variant: str
    seconds_per_step: float
    flops: int
    batch: int


def variant_rows(timings: list[Timing]) -> list[Row]:
    """Rows of images/s per (family, width, variant); ratio = images/s over the same family and width in
    fp32 (the baseline row, which must be among ``timings``). Each label carries the FLOPs per step and
    the achieved GFLOP/s (FLOPs per step / seconds per step)."""
    baselines = {(t.family, t.width): t for t in timings if t.variant == "fp32"}
    rows = []
    for t in timings:
        base = baselines.get((t.family, t.width))
        if base is None:
            raise ValueError(f"{t.family} width {t.width}: no fp32 timing to compare {t.variant} with")
        width = "" if t.family == "vae" else f" width {t.width or 64}"
        label = (f"{t.family}{width}, {t.variant}: {t.flops / 1e9:.3g} GFLOP/step, "
                 f"{t.flops / t.seconds_per_step / 1e9:.3g} GFLOP/s")
        ratio = None if t is base else base.seconds_per_step / t.seconds_per_step
        rows.append(Row(label, t.batch / t.seconds_per_step, "images/s", ratio))
    return rows


def matmul_flops_per_second(precision: str, device: torch.device, size: int, rounds: int = 3) -> float:
    """FLOP/s of a square ``size`` x ``size`` matrix product (2 size^3 FLOPs) in ``precision`` ("fp32", or "bf16"
    autocast as ``compute.training_step`` runs it), the median of ``rounds`` timed products after one warm-up:
    the peak a family's step is compared with in the same run (``utilisation_rows``)."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device) for _ in range(2))
    seconds = []
    for round_ in range(rounds + 1):
        synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            a @ b
        synchronize(device)
        if round_:
            seconds.append(time.perf_counter() - start)
    return 2.0 * size**3 / sorted(seconds)[len(seconds) // 2]


def utilisation_rows(timings: list[Timing], peaks: dict[str, float], size: int) -> list[Row]:
    """Model FLOP utilisation: per precision, the large matmul's GFLOP/s (``peaks``: precision -> FLOP/s, the
    baseline row), then each timed step in that precision: its achieved GFLOP/s, ratio = over the matmul's."""
    rows = []
    for precision, peak in peaks.items():
        rows.append(Row(f"matmul {size}x{size}, {precision}: the peak", peak / 1e9, "GFLOP/s"))
        for t in timings:
            if VARIANTS[t.variant][0] != precision:
                continue
            achieved = t.flops / t.seconds_per_step
            width = "" if t.family == "vae" else f" width {t.width or 64}"
            rows.append(Row(f"{t.family}{width}, {t.variant}: model FLOP utilisation", achieved / 1e9, "GFLOP/s", achieved / peak))
    return rows
