"""Table II metrics throughput: the batched torch implementation vs a per-image scikit-image loop.

Run from the repository root:  .venv/bin/python -m benchmarks.metrics [--quick]
(``python benchmarks/metrics.py`` works too.)

``measure`` builds N random image pairs (3 x 64 x 64, the generator's output size, float64 in
[0, 1]; the generated image is the target plus Gaussian noise of sd 0.1, clipped) and times, in
this one process and on the same data:
  - baseline: a Python loop over images calling scikit-image's mean_squared_error,
    peak_signal_noise_ratio and structural_similarity (Gaussian window, sigma 1.5, population
    covariance, as our SSIM) per image;
  - ours: ``v2f_bench.metrics.image_quality`` on the whole batch (all six Table II metrics).
Both run once untimed, then in alternation; the best wall time of ``REPEATS`` runs counts. The
baseline computes three metrics and ours six, so the ratio understates our advantage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from benchmarks.results import Row, Section, section_markdown
from v2f_bench import metrics

FULL_IMAGES, QUICK_IMAGES, SIZE = 512, 128, 64
REPEATS = 3
GOAL = 3.0
TOLERANCE = {"mse": 1e-12, "psnr": 1e-9, "ssim": metrics.SSIM_TOLERANCE}
"""Agreement required on the shared metrics: MSE and PSNR are float64 in both, SSIM's map is float32 in ours."""


@dataclass
class Timing:
    """Best wall and process-CPU seconds over the timed runs, and the last run's result."""

    wall: float = float("inf")
    cpu: float = float("inf")
    result: dict[str, float] | None = None


def per_image(generated: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """The baseline: scikit-image's MSE, PSNR and SSIM image by image, then the mean of each."""
    mse, psnr, ssim = [], [], []
    for g, t in zip(generated, target):
        g_hwc, t_hwc = g.transpose(1, 2, 0), t.transpose(1, 2, 0)
        mse.append(mean_squared_error(t_hwc, g_hwc))
        psnr.append(peak_signal_noise_ratio(t_hwc, g_hwc, data_range=1.0))
        ssim.append(structural_similarity(t_hwc, g_hwc, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False))
    return {"mse": float(np.mean(mse)), "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


def image_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    target = rng.random((n, 3, SIZE, SIZE))
    return np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1), target


def best_of(paths: dict, repeats: int) -> dict[str, Timing]:
    """Each path once untimed, then ``repeats`` alternating rounds; the fastest wall and smallest CPU time count
    (noise only adds, and alternating spreads other load on the machine over both paths alike)."""
    for run in paths.values():
        run()
    best = {name: Timing() for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            wall, cpu = time.perf_counter(), time.process_time()
            best[name].result = run()
            best[name].wall = min(best[name].wall, time.perf_counter() - wall)
            best[name].cpu = min(best[name].cpu, time.process_time() - cpu)
    return best


def single_thread_wall(run, repeats: int) -> float:
    """Best wall time of ``run`` with torch limited to one thread (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return best_of({"one thread": run}, repeats)["one thread"].wall
    finally:
        torch.set_num_threads(threads)


def measure(quick: bool = False) -> Section:
    start = time.perf_counter()
    load = os.getloadavg()[0]
    n = QUICK_IMAGES if quick else FULL_IMAGES
    generated, target = image_pairs(n)
    g, t = torch.as_tensor(generated), torch.as_tensor(target)
    timings = best_of({"baseline": lambda: per_image(generated, target), "ours": lambda: metrics.image_quality(g, t)}, REPEATS)
    one_thread = single_thread_wall(lambda: metrics.image_quality(g, t), REPEATS)
    section = build_section(n, timings, one_thread, load)
    section.seconds = time.perf_counter() - start
    return section


def disagreement(timings: dict[str, Timing]) -> dict[str, float]:
    reference, ours = timings["baseline"].result, timings["ours"].result
    return {name: abs(ours[name] - reference[name]) for name in reference}


def build_section(n: int, timings: dict[str, Timing], one_thread: float, load: float) -> Section:
    base, ours = timings["baseline"], timings["ours"]
    ratio = base.wall / ours.wall
    gaps = disagreement(timings)
    method = (
        f"{n} random image pairs of 3 x {SIZE} x {SIZE} (the generator's output size), float64 in [0, 1], the generated "
        "image being the target plus Gaussian noise (sd 0.1), clipped. Baseline: a Python loop calling scikit-image's "
        "mean_squared_error, peak_signal_noise_ratio and structural_similarity (Gaussian window, sigma 1.5, population "
        "covariance) on each image: 3 metrics. Ours: `v2f_bench.metrics.image_quality` on the whole batch: all 6 Table II "
        "metrics (MAE, MSE, SNR, PSNR, PAMSE, SSIM). Each runs once untimed, then the best wall time of "
        f"{REPEATS} alternating runs counts; images/s = {n} / that time. Shared metrics must agree within "
        f"{TOLERANCE['mse']:g} (MSE), {TOLERANCE['psnr']:g} dB (PSNR) and {TOLERANCE['ssim']:g} (SSIM, whose map ours computes "
        f"in float32); measured max disagreement: MSE {gaps['mse']:.1e}, PSNR {gaps['psnr']:.1e} dB, SSIM {gaps['ssim']:.1e}."
    )
    return Section(
        title="Metrics: batched Table II vs per-image scikit-image",
        method=method,
        rows=[
            Row("per-image scikit-image loop (MSE, PSNR, SSIM)", n / base.wall, "images/s", None),
            Row("batched torch, all six Table II metrics", n / ours.wall, "images/s", ratio),
        ],
        goal=f"batched metrics >= {GOAL:g}x the per-image loop",
        met=ratio >= GOAL,
        notes=notes(n, timings, one_thread, ratio, gaps, load),
    )


def notes(n: int, timings: dict[str, Timing], one_thread: float, ratio: float, gaps: dict[str, float], load: float) -> list[str]:
    base, ours = timings["baseline"], timings["ours"]
    agree = all(gaps[name] <= TOLERANCE[name] for name in gaps)
    lines = [
        f"Shared metrics within tolerance: {'yes' if agree else 'NO'}.",
        f"Ours ran with torch's {torch.get_num_threads()} threads; the scikit-image loop is single-threaded. Limited to one "
        f"thread, ours ran at {n / one_thread:,.0f} images/s ({base.wall / one_thread:.2f}x the loop).",
        f"Process CPU time: ours {base.cpu / ours.cpu:.2f}x the loop. Ours counts both threads, including time they spin "
        "waiting on each other, so this ratio too falls when the machine is oversubscribed.",
        "Where the speed comes from: float32 filtering as one depthwise convolution per axis over every image plane of a "
        "chunk (float64 convolutions were 5x slower than the loop), chunks of about 40 images so intermediates stay in "
        "cache, four filtered maps for SSIM instead of five, and no per-image Python work.",
        f"1-minute load average when the section began: {load:.1f} on {os.cpu_count()} CPUs. Every torch operation ends "
        "with its threads waiting for each other; when other processes keep the cores busy, a descheduled thread stalls "
        "each of the few hundred operations by up to a scheduler tick, which slows ours far more than the "
        "single-threaded loop (the library leaves torch's thread count to the caller).",
    ]
    if ratio < GOAL:
        lines.append(
            f"Goal missed: {ratio:.2f}x. If the one-thread ratio above reaches {GOAL:g}x, other load on the machine stalled "
            "torch's threads during the run (see the load average); otherwise the float32 filtering itself is too slow here."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images instead of {FULL_IMAGES}")
    args = parser.parse_args()
    print(section_markdown(measure(args.quick)))


if __name__ == "__main__":
    main()
