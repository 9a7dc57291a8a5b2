"""Table II metrics throughput: the batched torch implementation vs a per-image scikit-image loop.

Run:  .venv/bin/python benchmarks/metrics.py [--images 256] [--size 64]

On the same random image pairs (N images, 3 x size x size, in [0, 1]) it times, in this process:
  - baseline: a Python loop over images calling scikit-image's mean_squared_error,
    peak_signal_noise_ratio and structural_similarity (Gaussian window, as our SSIM) per image;
  - ours: ``v2f_bench.metrics.image_quality`` on the whole batch (all six Table II metrics).
It prints images/s for both and the ratio, and checks that the shared metrics agree.
The baseline computes three metrics and ours six, so the ratio understates our advantage.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from v2f_bench.metrics import image_quality


def per_image(generated: np.ndarray, target: np.ndarray) -> dict[str, float]:
    mse, psnr, ssim = [], [], []
    for g, t in zip(generated, target):
        g_hwc, t_hwc = g.transpose(1, 2, 0), t.transpose(1, 2, 0)
        mse.append(mean_squared_error(t_hwc, g_hwc))
        psnr.append(peak_signal_noise_ratio(t_hwc, g_hwc, data_range=1.0))
        ssim.append(structural_similarity(t_hwc, g_hwc, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False))
    return {"mse": float(np.mean(mse)), "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    target = rng.random((args.images, 3, args.size, args.size))
    generated = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1)
    g, t = torch.as_tensor(generated), torch.as_tensor(target)
    image_quality(g[:2], t[:2])
    per_image(generated[:2], target[:2])
    start = time.perf_counter()
    reference = per_image(generated, target)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    ours = image_quality(g, t)
    batched = time.perf_counter() - start
    agree = all(abs(reference[k] - ours[k]) <= 1e-6 * max(1.0, abs(reference[k])) for k in reference)
    print(f"{'path':<40}{'images/s':>12}{'x baseline':>12}")
    print(f"{'per-image scikit-image (MSE, PSNR, SSIM)':<40}{args.images / baseline:>12.0f}{1.0:>12.2f}")
    print(f"{'batched torch (all six Table II)':<40}{args.images / batched:>12.0f}{baseline / batched:>12.2f}")
    print(f"shared metrics agree to 1e-6: {agree}")


if __name__ == "__main__":
    main()
