"""The Ray Tune side of a trial: one trainable that runs any task (``tasks``), and its report and restore plumbing.

Ray's contract and nothing more: hyperparameters come only from ``config``; each evaluation point (an epoch, or
a rung of a generator trial's FLOP budget) ends with ``ray.tune.report(flat_metrics, checkpoint=...)``; a restarted trial resumes from
``ray.tune.get_checkpoint()``. The task's data (``data["task"]`` is the task class) arrives once through
the object store (``tune.with_parameters(train_task, data=...)``), never re-read per trial.

Every trial, whatever its task, runs its steps and evaluations through one compute meter
(``compute.ComputeMeter``), whose cumulative counts go into each report (``compute.COMPUTE_KEYS``) and
into each checkpoint (``compute``), so a compute budget stops voice, judge and generator searches alike.

Test-split metrics of the model in each checkpoint are written to ``test_metrics.json`` inside that
checkpoint, never reported as metrics: nothing can select on test data, and whichever checkpoint a
report selects on validation metrics (the best epoch, or the last of a trial ASHA stopped) carries
its own test values and names the epoch its model comes from (``epoch_of_model``). The voice
classifier's final checkpoint holds its best epoch's weights, so its validation numbers are the row
reported for that epoch, not the last row (``trials.checkpoint_metrics`` pairs them).
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from v2f_bench.artifacts import DIVERGED_FILE, STATE_FILE
from v2f_bench.compute import ComputeMeter, trial_resources
from v2f_bench.runtime import TrialDiverged

COMPUTE_STATE = "compute"
"""The key of the meter's counts in every checkpoint state, beside the task's own state."""


def _report(metrics_row: dict, state: dict, extra_files: dict[str, dict] | None = None, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Report one epoch with a checkpoint; ``node_id`` records where the trial ran (multi-node runs).

    ``extra_files`` are written as JSON and ``arrays`` as ``.npy`` (no pickle) beside the state.
    """
    import ray
    from ray import tune

    metrics_row = {**metrics_row, "node_id": ray.get_runtime_context().get_node_id()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / STATE_FILE)
        for name, content in (extra_files or {}).items():
            (Path(tmp) / name).write_text(json.dumps(content, indent=1))
        for name, array in (arrays or {}).items():
            np.save(Path(tmp) / name, array, allow_pickle=False)
        tune.report(metrics_row, checkpoint=tune.Checkpoint.from_directory(tmp))


def _restore() -> dict | None:
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)


def fails_once_on_divergence(trainable):
    """Make a diverged trial stay failed when Ray retries it.

    Ray's ``FailureConfig`` retries every errored trial from its last checkpoint, which is right
    for a crashed worker but only repeats a divergence (same checkpoint, same seed). The first
    divergence leaves ``diverged.txt`` in the trial directory; a retry finds it and fails at once
    with the original reason.

    The marker goes straight to the trial's directory in the experiment's storage (a local path or
    a URI), which every attempt on every node sees. The session's ``get_trial_dir()`` is a node-local
    staging folder that is not the same between attempts: Ray 2.60 gives a function trainable
    ``driver_artifacts/<trial>`` on a fresh actor but ``working_dirs/<trial>`` on an actor reused from
    another trial (``reuse_actors``), so a marker left there by an attempt on a reused actor was missed
    by its retry on a fresh one, and the diverged trial was rerun from its checkpoint.
    """

    @functools.wraps(trainable)
    def wrapped(config: dict, data: dict) -> None:
        trial = _trial_storage()
        if trial is not None:
            reason = trial.read_text(DIVERGED_FILE)
            if reason is not None:
                raise TrialDiverged(f"{reason} (not retried: a retry would diverge the same way)")
        try:
            trainable(config, data)
        except TrialDiverged as exc:
            if trial is not None:
                try:  # best effort: a marker that cannot be written must not hide the divergence itself
                    trial.write_bytes(DIVERGED_FILE, str(exc).encode())
                except OSError:
                    pass
            raise

    return wrapped


def _trial_storage():
    """The trial's folder in the experiment's storage (a ``storage.Location``); None outside Ray Tune."""
    from ray import tune

    from v2f_bench.storage import Location

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = tune.get_context().get_storage()
    if storage is None:
        return None
    return Location(storage.storage_filesystem, storage.trial_fs_path.rstrip("/"))


def trainable_for(data: dict):
    """``train_task`` named ``train_<role>`` after ``data``'s task (``train_voice``, ``train_judge``,
    ``train_generator``), the name Ray gives the search's trials and their folders."""

    def trainable(config: dict, data: dict) -> None:
        train_task(config, data)

    trainable.__name__ = trainable.__qualname__ = f"train_{data['task'].role}"
    return trainable


@fails_once_on_divergence
def train_task(config: dict, data: dict) -> None:
    """Ray Tune trainable for any task: reports each ``Epoch`` of ``data["task"].epochs`` with the meter's cumulative counts."""
    started = time.perf_counter()
    cpus, gpus = trial_resources()
    torch.set_num_threads(max(1, int(cpus)))  # as many torch threads as the CPUs the trial holds, whatever Ray's worker had before
    state = _restore()
    meter = ComputeMeter(cpus, gpus, state=(state or {}).get(COMPUTE_STATE), started=started)
    for epoch in data["task"].epochs(config, data, meter, state):
        _report({**epoch.row, **meter.row()}, {**epoch.state, COMPUTE_STATE: meter.state()}, epoch.files, epoch.arrays)
