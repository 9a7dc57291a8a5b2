"""Prepare a dataset and train the voice stage on it with this process's private memory capped (run by
``tests/data/test_batches.py``, in a subprocess so the cap binds nothing else).

Usage: capped_run.py TINY_ROOT BIG_ROOT OUT MODE MARGIN_MB. After a warm-up on TINY_ROOT (every import and first use,
Ray started before the cap so its processes are not capped), RLIMIT_DATA is set to the private memory in use plus
MARGIN_MB; then BIG_ROOT is prepared and the voice stage trained on it with ``--data-path MODE``. Prints one line,
``RESULT {json}``: whether it finished, or the MemoryError that stopped it, and the largest growth of private memory seen.
"""

import json
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import ray

from v2f_bench.console import ray_init_options
from v2f_bench.data.batches import set_data_mode
from v2f_bench.data.prepared import PrepareConfig, load_prepared, prepare
from v2f_bench.data.sources import resolve_sources
from v2f_bench.tasks.voice import voice_stage


def private_memory() -> int:
    """VmData: the private writable memory RLIMIT_DATA caps (heap, anonymous mappings, thread stacks)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def main() -> None:
    tiny, big, out, mode, margin_mb = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    ray.init(address="local", num_cpus=2, include_dashboard=False, **ray_init_options())
    prepare(resolve_sources(tiny, None, None), out / "warm", PrepareConfig(shard_clips=4))
    warm_run = out / f"warm-run-{mode}"  # trained afresh in every process: a Tune run starts the threads (pyarrow's
    shutil.rmtree(warm_run, ignore_errors=True)  # IO pool among them) that must exist before the cap; started under it, they crash
    voice_stage(load_prepared(out / "warm"), warm_run, {"max_epochs": 1})
    threading.stack_size(1024**2)  # a new thread's stack is private memory the cap counts: 1 MiB each, not 8
    base = private_memory()
    resource.setrlimit(resource.RLIMIT_DATA, (base + margin_mb * 1024**2,) * 2)
    peak = [0]

    def watch() -> None:
        while True:
            peak[0] = max(peak[0], private_memory() - base)
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    set_data_mode(mode)
    result = {"mode": mode, "margin_mb": margin_mb}
    try:
        prepared = load_prepared(prepare(resolve_sources(big, None, None), out / "big", PrepareConfig(shard_clips=4)).out)
        result["features_mb"] = prepared.n_windows * 60 * 41 * 2 * 4 / 1024**2
        record = voice_stage(prepared, out / "run", {"max_epochs": 1, "batch_size": 64})
        result.update(finished=True, epochs=record["epochs_trained"])
    except MemoryError as exc:
        result.update(finished=False, error=f"MemoryError: {exc}")
    result["peak_mb"] = peak[0] / 1024**2
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
