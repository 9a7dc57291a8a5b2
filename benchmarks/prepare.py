"""Voice-feature throughput: librosa (the reference) vs batched torch vs Ray-parallel, on the same clips.

Run:  .venv/bin/python benchmarks/prepare.py [--identities 9] [--clips-per-identity 12] [--cpus 2]

It synthesises a dataset into a temporary directory, then times, in this one process and on the
same clip files:
  1. decode only (librosa.load at 22,050 Hz): the floor every path pays;
  2. the librosa path (decode + per-window librosa features), as `prepare --backend librosa`;
  3. the torch path (decode + batched torch features), as `prepare --backend torch`;
  4. the librosa path fanned out as Ray tasks over --cpus workers (Ray start-up excluded, then included).
Every figure is printed as clips/s and as a ratio to the librosa path measured in the same run.
Each path runs once untimed first (librosa JIT-compiles on its first call; Ray workers import).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from v2f_bench.data import layouts
from v2f_bench.data.audio import FeatureParams, decode
from v2f_bench.data.prepared import _clip_batch, _clip_payload
from v2f_bench.data.synth import SynthConfig, write_synth
from v2f_bench.parallel import map_batches


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=9)
    parser.add_argument("--clips-per-identity", type=int, default=12)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()

    params = FeatureParams()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "raw"
        write_synth(root, SynthConfig(identities=args.identities, clips_per_identity=args.clips_per_identity, photos_per_identity=1))
        clips = [c for group in layouts.scan_voxceleb2(root / "voxceleb2").clips.values() for c in group]
        seconds = sum(__import__("soundfile").info(c.path).duration for c in clips)
        print(f"{len(clips)} clips, {seconds:.0f} s of audio ({sum(c.path.suffix == '.mp3' for c in clips)} mp3, rest wav)")

        def run_local(backend: str):
            return map_batches(_clip_batch, clips, _clip_payload, (params, backend), None, f"{backend}", "clip")

        def run_decode():
            return [decode(c.path.read_bytes(), c.path.suffix, params.sample_rate) for c in clips]

        rows = []
        run_local("librosa")
        run_local("torch")
        t_decode, _ = timed(run_decode)
        t_librosa, reference = timed(lambda: run_local("librosa"))
        t_torch, _ = timed(lambda: run_local("torch"))

        import ray

        t_ray_start, _ = timed(lambda: ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR"))
        map_batches(_clip_batch, clips, _clip_payload, (params, "librosa"), "auto", "warm-up", "clip")
        t_ray, on_ray = timed(lambda: map_batches(_clip_batch, clips, _clip_payload, (params, "librosa"), "auto", "ray", "clip"))
        ray.shutdown()
        same = all((a == b).all() for a, b in zip(reference, on_ray))

        rows = [
            ("decode only (floor)", t_decode),
            ("librosa path (baseline)", t_librosa),
            ("torch batched path", t_torch),
            (f"ray, {args.cpus} CPUs, librosa path", t_ray),
            (f"ray incl. start-up ({t_ray_start:.1f} s)", t_ray + t_ray_start),
        ]
        print(f"\n{'path':<38}{'clips/s':>10}{'x librosa':>11}")
        for name, seconds_taken in rows:
            print(f"{name:<38}{len(clips) / seconds_taken:>10.1f}{t_librosa / seconds_taken:>11.2f}")
        feature_share = (t_librosa - t_decode) / t_librosa
        print(f"\nfeatures are {feature_share:.0%} of the librosa path; decoding and resampling (shared by all paths) are the rest.")
        print(f"torch features alone: {(t_librosa - t_decode) / max(t_torch - t_decode, 1e-9):.1f}x librosa features alone")
        print(f"ray output identical to local: {same}")


if __name__ == "__main__":
    main()
