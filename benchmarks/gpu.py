"""GPU training throughput: each family's step by precision and layout, and 1-8 training processes sharing one GPU.

Run:  python -m benchmarks --only gpu [--quick] --out reports/benchmarks_gpu.md   (see DEVELOPERS.md)

Runs the trainable's step function (``compute.training_step``, through ``benchmarks.steps``) without
Ray: this module imports torch and the project's torch-only modules, never ray, optuna, pandas,
numpy or facenet_pytorch, so it runs on a GPU machine where only torch is installed.
Batch 64, random 128-d voice embeddings and 64x64 faces held on the CPU and moved per step, as in
the trainable. On CUDA device 0 it measures:

- **single process**: each family in fp32, bf16 autocast, channels_last and bf16 + channels_last;
  warm-up steps, then steps for a fixed wall time; images/s = images trained / seconds (the device
  synchronised at both ends), ratio = over the same family in fp32 (the baseline row);
- **processes sharing the GPU** (what a fractional ``--gpus-per-trial`` does): for N in 1, 2, 4, 8,
  N spawned processes (one CPU thread each, as Ray gives a 1-CPU trial) each build the family in
  fp32, warm up, wait at a barrier, then train for the same wall time. Per process: images/s and
  peak ``torch.cuda.max_memory_allocated``; the device's used memory (total - free from
  ``torch.cuda.mem_get_info``, every process's context included) at the end of the timed window.
  Aggregate images/s = sum over the N processes; ratio = aggregate over the 1-process aggregate.

Recommendation (``recommend``): the largest N whose aggregate still grew by >= 10 % over the
previous count is the number of trials worth packing on one GPU, i.e. ``--gpus-per-trial 1/N``;
with several families, the smallest such N over them. Without CUDA the section is written as
skipped, which does not fail the suite.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from benchmarks.results import Row, Section, section_markdown
from benchmarks.steps import VARIANTS, Timing, indexed_batches, make_step, random_data, step_flops, train_for, variant_rows

SKIPPED = "no CUDA device: run `python -m benchmarks --only gpu` on a GPU machine; see DEVELOPERS.md"
COUNTS = (1, 2, 4, 8)
GROWTH = 1.10
"""A count of concurrent processes is worth it when its aggregate images/s is >= this times the previous count's."""
FAMILIES = ("vae", "cgan", "rcgan")
BATCH = 64


def recommend(aggregate: dict[int, float], growth: float = GROWTH) -> int:
    """The largest process count whose aggregate images/s is >= ``growth`` x that of the next smaller
    count measured; the smallest count when none grows so. A count missing or zero (failed) never grows."""
    counts = sorted(aggregate)
    best = counts[0]
    for previous, count in zip(counts, counts[1:]):
        if aggregate[count] > 0 and aggregate[count] >= growth * aggregate[previous]:
            best = count
    return best


def recommendation_line(per_family: dict[str, dict[int, float]], growth: float = GROWTH) -> str:
    """The note that states the recommended processes per GPU and the ``--gpus-per-trial`` fraction."""
    counts = {name: recommend(aggregate, growth) for name, aggregate in per_family.items()}
    n = min(counts.values())
    each = ", ".join(f"{name} {count}" for name, count in counts.items())
    return (f"Recommendation: {n} concurrent training process{'es' if n > 1 else ''} per GPU, i.e. `--gpus-per-trial "
            f"{1 / n:.3g}` for the `full` profile (the largest count whose aggregate images/s still grew >= "
            f"{growth - 1:.0%} over the previous count; per family: {each}; the smallest is taken). The profile is not "
            "changed by this benchmark; its `concurrency` also caps how many trials run at once.")


@dataclass(frozen=True)
class WorkerSpec:
    """What each concurrent worker trains: ``families`` in turn, ``variant``, ``batch``, on ``device``;
    ``warmup`` steps, then ``seconds`` of wall time or ``steps`` steps, whichever comes first."""

    families: tuple[str, ...]
    device: str
    variant: str = "fp32"
    batch: int = BATCH
    warmup: int = 5
    seconds: float | None = 8.0
    steps: int | None = None
    samples: int = 1024
    barrier_s: float = 300.0


def train_worker(rank: int, spec: WorkerSpec, barrier, results) -> None:
    """One training process: per family, build it, warm up, meet the others at ``barrier``, train,
    and put a result dict (or ``{"rank", "error"}``) on ``results``. Runs on CPU too (tests)."""
    try:
        torch.set_num_threads(1)
        device = torch.device(spec.device)
        cuda = device.type == "cuda"
        voice, faces = random_data(spec.samples, seed=rank)
        for name in spec.families:
            step = make_step(name, spec.variant, device, seed=rank)
            batches = iter(indexed_batches(voice, faces, spec.batch, torch.Generator().manual_seed(rank)))
            train_for(step, batches, device, steps=spec.warmup)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            barrier.wait(spec.barrier_s)
            steps, seconds = train_for(step, batches, device, steps=spec.steps, seconds=spec.seconds)
            free, total = torch.cuda.mem_get_info(device) if cuda else (0, 0)
            results.put({"rank": rank, "family": name, "steps": steps, "seconds": seconds,
                         "images_per_s": steps * spec.batch / seconds,
                         "peak_bytes": torch.cuda.max_memory_allocated(device) if cuda else 0, "device_used_bytes": total - free})
            barrier.wait(spec.barrier_s)
            del step, batches
            if cuda:
                torch.cuda.empty_cache()
    except BaseException as error:  # reported to the parent, which fails the section in one line
        barrier.abort()
        text = str(error).strip().splitlines()
        results.put({"rank": rank, "error": f"{type(error).__name__}: {text[0] if text else ''}"})


def run_concurrent(processes: int, spec: WorkerSpec, timeout_s: float = 600.0) -> list[dict]:
    """Start ``processes`` spawned ``train_worker`` processes at once; their result dicts, one per
    process and family. A worker's error or exit without results raises a one-line ``RuntimeError``."""
    import multiprocessing as mp
    import queue

    context = mp.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=train_worker, args=(rank, spec, barrier, results), daemon=True) for rank in range(processes)]
    for worker in workers:
        worker.start()
    expected, got, deadline = processes * len(spec.families), [], time.monotonic() + timeout_s
    try:
        while len(got) < expected:
            try:
                item = results.get(timeout=1.0)
            except queue.Empty:
                if time.monotonic() > deadline or not any(w.is_alive() for w in workers):
                    raise RuntimeError(f"{processes} processes: {len(got)} of {expected} results before the workers "
                                       f"{'timed out' if time.monotonic() > deadline else 'exited'}") from None
                continue
            if "error" in item:
                raise RuntimeError(f"{processes} processes: worker {item['rank']} failed: {item['error']}")
            got.append(item)
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
                worker.join()
    return got


def concurrency_rows(results: dict[int, list[dict]], family: str) -> tuple[list[Row], dict[int, float]]:
    """Rows for one family: per count, aggregate images/s (ratio over 1 process), mean images/s per
    process (ratio over 1 process), peak MiB allocated by the largest process, and device MiB used."""
    aggregate, rows, single = {}, [], None
    for count in sorted(results):
        mine = [r for r in results[count] if r["family"] == family]
        total = sum(r["images_per_s"] for r in mine)
        aggregate[count] = total
        single = total if single is None else single
        per = total / len(mine)
        rows += [Row(f"{family}: {count} process{'es' if count > 1 else ''} on the GPU, aggregate", total, "images/s", None if count == min(results) else total / single),
                 Row(f"{family}: {count}, per process (mean; slowest {min(r['images_per_s'] for r in mine):,.0f})", per, "images/s",
                     float("nan") if count == min(results) else per / single),
                 Row(f"{family}: {count}, peak allocated by one process / device memory used", max(r["peak_bytes"] for r in mine) / 2**20,
                     f"MiB / {max(r['device_used_bytes'] for r in mine) / 2**20:,.0f} MiB", float("nan"))]
    return rows, aggregate


def single_process_timings(families: tuple[str, ...], device: torch.device, warmup: int, seconds: float) -> list[Timing]:
    """Seconds per step of each family in every variant in this process: a FLOP-counted step, ``warmup``
    steps, then steps for ``seconds`` of wall time."""
    voice, faces = random_data(1024)
    timings = []
    for name in families:
        for variant in VARIANTS:
            step = make_step(name, variant, device)
            batches = iter(indexed_batches(voice, faces, BATCH, torch.Generator().manual_seed(0)))
            flops = step_flops(step, batches, BATCH)
            train_for(step, batches, device, steps=warmup)
            steps, elapsed = train_for(step, batches, device, seconds=seconds)
            timings.append(Timing(name, None, variant, elapsed / steps, flops, BATCH))
            del step, batches
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return timings


def skipped_section(seconds: float = 0.0) -> Section:
    return Section(title="GPU: training throughput by precision and processes per GPU (skipped)", method=SKIPPED, rows=[], seconds=seconds)


def measure(quick: bool = False) -> Section:
    began = time.perf_counter()
    if not torch.cuda.is_available():
        return skipped_section(time.perf_counter() - began)
    device = torch.device("cuda", 0)
    families, counts = (("rcgan",), (1, 2)) if quick else (FAMILIES, COUNTS)
    warmup, seconds = (2, 1.0) if quick else (5, 3.0)
    spec = WorkerSpec(families=families, device="cuda:0", warmup=warmup, seconds=2.0 if quick else 8.0)
    rows = variant_rows(single_process_timings(families, device, warmup, seconds))
    results, failures = {}, []
    for count in counts:
        try:
            results[count] = run_concurrent(count, spec)
        except RuntimeError as error:  # e.g. out of memory at this count: the counts before it still stand
            failures.append(f"Stopped at {count} processes, which failed: {error}")
            break
    if not results:
        raise RuntimeError(failures[0])
    aggregates = {}
    for name in families:
        family_rows, aggregates[name] = concurrency_rows(results, name)
        rows += family_rows
    notes = failures + [recommendation_line(aggregates),
             "Aggregate per count: " + "; ".join(f"{name} " + ", ".join(f"{c}: {a:,.0f}" for c, a in agg.items())
                                                 for name, agg in aggregates.items()) + " images/s."]
    return Section(
        title="GPU: training throughput by precision and processes per GPU",
        method=(f"On {torch.cuda.get_device_name(device)}, without Ray, batch {BATCH}, random 128-d voice and 64x64 faces moved "
                "to the GPU per step, through the trainable's step function (compute.training_step). Single process: per "
                f"family and variant, one FLOP-counted step, {warmup} warm-up steps, then {seconds:g} s of steps; images/s = "
                "images / seconds, ratio = over the family in fp32, GFLOP/s = counted FLOPs per step / seconds per step. "
                f"Processes sharing the GPU: N = {', '.join(map(str, counts))} spawned processes (1 CPU thread each) per "
                f"family in fp32, {warmup} warm-up steps, a barrier, then {spec.seconds:g} s of steps each; aggregate = sum of "
                "per-process images/s, ratio = over 1 process; memory = peak torch.cuda.max_memory_allocated of one process "
                "and the device's used memory (mem_get_info: every process's context, this parent's included) at the end of the window."),
        rows=rows,
        notes=notes,
        seconds=time.perf_counter() - began,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one family, 1 and 2 processes, short windows")
    args = parser.parse_args()
    print(section_markdown(measure(args.quick)))


if __name__ == "__main__":
    main()
