"""Training throughput of each generator family: the trainable's loop vs a naive DataLoader loop.

Run:  .venv/bin/python benchmarks/train.py [--steps 8] [--batch-size 64] [--families vae,cgan,rcgan]

For each family, on the same model configuration and the same random data (N voice embeddings
of 128 floats, N 64x64 faces), it times ``--steps`` optimisation steps two ways in this process:
  - baseline: a ``torch.utils.data.DataLoader`` over a list of per-sample (voice, face) tensors,
    shuffled, collated per batch (the textbook loop);
  - ours: what ``trainables.train_generator`` does: faces and embeddings held as two tensors,
    batches taken by indexing them with a shuffled permutation.
It prints steps/s for both and the ratio ours/baseline, on CPU, and on CUDA when present.
One untimed warm-up step runs first for each.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from v2f_bench.models.registry import get_family


def time_steps(step, batches, steps: int) -> float:
    iterator = iter(batches)
    step(*next(iterator))
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(iterator))
    return time.perf_counter() - start


def naive_batches(voice, faces, batch_size: int, generator):
    samples = [(voice[i], faces[i]) for i in range(len(voice))]
    while True:
        yield from DataLoader(samples, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)


def indexed_batches(voice, faces, batch_size: int, generator):
    while True:
        order = torch.randperm(len(voice), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield voice[index], faces[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--families", default="vae,cgan,rcgan")
    args = parser.parse_args()

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    torch.manual_seed(0)
    voice = torch.randn(args.samples, 128)
    faces = torch.rand(args.samples, 3, 64, 64)
    print(f"{'family':<8}{'device':<8}{'naive steps/s':>15}{'ours steps/s':>14}{'ratio':>8}")
    for device in devices:
        for name in args.families.split(","):
            results = []
            for make_batches in (naive_batches, indexed_batches):
                torch.manual_seed(0)
                family = get_family(name)({}, device=device)
                batches = make_batches(voice, faces, args.batch_size, torch.Generator().manual_seed(0))

                def step(v, f):
                    family.train_step(v.to(device), f.to(device))

                if device == "cuda":
                    torch.cuda.synchronize()
                results.append(time_steps(step, batches, args.steps))
            naive, ours = results
            print(f"{name:<8}{device:<8}{args.steps / naive:>15.2f}{args.steps / ours:>14.2f}{naive / ours:>8.2f}")
    print("\nratio = ours / naive steps per second, same model, data and batch size, measured in this run.")


if __name__ == "__main__":
    main()
