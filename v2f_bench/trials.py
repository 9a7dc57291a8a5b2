"""One trial on the driver's side: run a single configuration through Ray Tune (the path a search takes),
and read what a finished trial's checkpoint holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from v2f_bench.artifacts import TEST_METRICS_FILE
from v2f_bench.errors import UserError, first_line
from v2f_bench.storage import storage_root

RAY_BOOKKEEPING = {"timestamp", "training_iteration", "time_this_iter_s", "time_total_s", "pid", "time_since_restore",
                   "iterations_since_restore", "done", "should_checkpoint"}
"""Keys Ray adds to every result; not metrics of the trial."""


def run_one(data: dict, config: dict, storage: str | Path, name: str):
    """Run ``config`` as a single Ray Tune trial of ``data``'s task (``trainables.train_task``) and return its
    ``Result``; a failed trial is a one-line error.

    ``storage`` is a local path or a storage URI; on a multi-node cluster it must be shared
    (e.g. ``s3://...``), since the trial may run on another node.
    """
    from ray import tune

    from v2f_bench.console import fit, search_progress, tune_verbosity
    from v2f_bench.parallel import ray_session
    from v2f_bench.trainables import trainable_for

    with ray_session("local"):
        try:
            tuner = tune.Tuner(
                tune.with_parameters(trainable_for(data), data=data),
                param_space=config,
                tune_config=tune.TuneConfig(num_samples=1),
                run_config=tune.RunConfig(
                    name=name, storage_path=storage_root(storage), verbose=tune_verbosity(), checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    callbacks=[c for c in [search_progress(name, 1)] if c is not None],
                ),
            )
        except OSError as exc:  # Ray creates and test-writes the experiment folder here
            raise UserError(f"{storage}: cannot write the {name} trial's results there ({first_line(exc, type(exc).__name__)}); "
                            "choose a writable --storage / --run-dir or free some space") from None
        result = fit(tuner)[0]
    if result.error is not None:
        raise UserError(f"the {name} trial failed: {str(result.error).strip().splitlines()[-1]} (details in {result.path})")
    return result


def last_checkpoint(result):
    """The latest checkpoint a finished trial saved (a ``ray.tune.Checkpoint``).

    ``result.checkpoint`` is None when a compute budget ended the whole search at the report that carried
    that checkpoint (Ray stops the experiment before it registers the checkpoint it has already written),
    so the newest ``checkpoint_*`` folder of the trial is taken from its storage then; a one-line error when it has none."""
    if result.checkpoint is not None:
        return result.checkpoint
    from pyarrow import fs
    from ray.tune import Checkpoint

    infos = result.filesystem.get_file_info(fs.FileSelector(result.path))
    folders = sorted(i.path for i in infos if i.type == fs.FileType.Directory and i.base_name.startswith("checkpoint_"))
    if not folders:
        raise UserError(f"{result.path}: the trial saved no checkpoint, so there is no model to use; train it again")
    return Checkpoint(folders[-1], filesystem=result.filesystem)


def checkpoint_metrics(result) -> dict:
    """The model in a finished trial's checkpoint: its epoch, the number of epochs trained, and its
    validation row and test metrics, which thus always describe the same model.

    The checkpoint's ``test_metrics.json`` names the epoch its model comes from (``epoch_of_model``),
    and the validation numbers are the row the trial reported for that epoch. That is not always the
    last reported row (``result.metrics``): when early stopping ends a voice trial, its last
    checkpoint holds the weights of the epoch with the lowest validation loss, which may be several
    epochs before the last one.
    """
    with last_checkpoint(result).as_directory() as folder:
        test = json.loads((Path(folder) / TEST_METRICS_FILE).read_text())
    last = int(result.metrics["epoch"])
    epoch = int(test.get("epoch_of_model", last))
    history = result.metrics_dataframe
    rows = [] if history is None or "epoch" not in history else history[history["epoch"] == epoch].to_dict("records")
    if not rows:
        raise UserError(f"{result.path}: its results hold no row of epoch {epoch}, the epoch of the model in its checkpoint; "
                        "the trial's result files are incomplete, so train it again")
    row = {k: v.item() if isinstance(v, np.generic) else v for k, v in rows[-1].items()}
    val = {k: v for k, v in row.items() if isinstance(v, int | float) and not isinstance(v, bool) and v == v  # v == v: not NaN
           and k not in RAY_BOOKKEEPING and not k.startswith("config/")}
    return {"epoch": epoch, "epochs_trained": last, "val": val, "test": test}
