"""Searches on Ray Tune with Optuna: building the Tuner for a target, running, resuming, and equal-budget comparison.

A search is one Ray Tune experiment directory (``<storage>/<name>``, local or a storage URI)
holding Ray's own result files and checkpoints, plus ``v2f_search.json``: the target, the space
file's content, the budget and resources, the seed and the prepared dataset's cache key. The
report reads nothing else.

- The searcher is Optuna's TPE sampler (seeded) through Ray's ``OptunaSearch`` (``study.ResumableOptunaSearch``), limited to
  ``concurrency`` trials at a time; the scheduler is ASHA (early stopping on the space's metric,
  ``time_attr`` = epochs, or the share of the trial's FLOP budget spent for generator trials that evaluate at rungs) or FIFO.
- Multi-objective (``space.objectives``, from ``--objectives``): the same TPE sampler (Optuna's
  TPE handles several objectives) is told every objective's final value, and Optuna keeps the
  Pareto front; ASHA stops trials and checkpoints are kept on the first objective only, and no
  intermediate values reach Optuna (Ray reports none for several metrics).
- Each search keeps its Optuna study in a journal file under the experiment (``study.py``).
- Every trial receives the prepared arrays through the object store once per cluster
  (``tune.with_parameters``), so workers need no copy of the raw or prepared data.
- Crashed trials are retried from their last checkpoint up to ``max_failures`` times; a diverging
  trial raises and so ends as an errored trial (Optuna records it as failed); the search goes on.
- ``resume`` restores an interrupted experiment with ``Tuner.restore``: finished trials are kept
  and not rerun, unfinished ones continue from their last checkpoint.
- Trial workers are reused across trials (``reuse_actors``): a fresh worker process costs seconds
  (Python, torch, the object-store fetch), which dominated trials of a few seconds
  (benchmarks/search.py measures the per-trial overhead).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from v2f_bench.artifacts import SEARCH_RECORD, STAGES_FOLDER, UNRECORDED_FOLDER
from v2f_bench.console import fit
from v2f_bench.errors import UserError, first_line
from v2f_bench.storage import Location, experiment, holds_trial, read_trial_states, storage_root, trial_folders

SCHEDULERS = ("asha", "fifo")
COMPUTE_CAPS = {"trials": 1000, "max_epochs": 1000}
"""``--trials`` and ``--max-epochs`` when a compute budget is given and they are not: caps that the budget reaches first."""


@dataclass(frozen=True)
class Budget:
    """What every search of a comparison gets: trials, epochs per trial, and resources per trial."""

    trials: int = 8
    max_epochs: int = 4
    grace_period: int = 1
    time_budget_s: float | None = None
    """Wall-clock limit of the whole search (Ray's ``time_budget_s``); None = no limit."""
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    concurrency: int = 2
    scheduler: str = "asha"
    max_failures: int = 2
    compute: dict | None = None
    """A compute budget summed over the search's trials (``compute.ComputeBudget.as_dict``); None = none.
    With one, ``trials`` and ``max_epochs`` are caps, and the search ends once the budget is spent."""

    def validate(self) -> None:
        if self.trials < 1 or self.max_epochs < 1 or self.concurrency < 1:
            raise UserError("--trials, --max-epochs and --concurrency must be at least 1")
        if not 1 <= self.grace_period <= self.max_epochs:
            raise UserError(f"--grace-period {self.grace_period} must lie between 1 and --max-epochs {self.max_epochs}")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise UserError("--cpus-per-trial must be positive and --gpus-per-trial non-negative")
        if self.scheduler not in SCHEDULERS:
            raise UserError(f"--scheduler {self.scheduler!r}: choose one of {', '.join(SCHEDULERS)}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise UserError("--time-budget must be positive")
        if self.compute is not None and self.compute["unit"] == "gpu-s" and self.gpus_per_trial == 0:
            raise UserError(f"--compute-budget {self.compute['text']}: GPU-seconds, but trials hold no GPU; "
                            "give --gpus-per-trial, or a budget in FLOPs or cpu-s")

    def compute_budget(self):
        """The ``compute.ComputeBudget`` of this budget, or None."""
        from v2f_bench.compute import ComputeBudget

        return None if self.compute is None else ComputeBudget(**self.compute)


@dataclass
class SearchSetup:
    """Everything a search needs besides the Ray cluster: the target, its trials' shared data (which names
    their task, ``data["task"]``, run by ``trainables.train_task``) and the space."""

    target: str
    data: dict
    space: object
    """A ``search_space.SearchSpace``."""
    prepared_key: str
    extra: dict = field(default_factory=dict)
    """Recorded beside the results (e.g. which voice classifier and judge the generators used)."""
    artifacts: dict = field(default_factory=dict)
    """Written into ``<experiment>/stages/``: arrays as ``.npy``, dicts as JSON (embeddings and the judge's
    calibration curve, so that the report needs nothing but the experiment directory)."""
    fixed: dict = field(default_factory=dict)
    """Hyperparameters every trial of the search gets, beside the space's (e.g. a profile's network widths and precision)."""
    defaults_first: bool = False
    """Whether the first trial evaluates the target's defaults (``targets.Target.defaults``) before the sampler draws."""

    def declaration(self):
        """The target's ``targets.Target``, from the trials' own task (and, for a family, the registry copy the
        trials get, so that one registered at run time is found)."""
        return self.data["task"].target(self.target, self.extra.get("voice_encoder"), self.data.get("families"))


def search_setup(target: str, space_file: Path, prepared, run_dir: Path, voice_config: dict, judge, storage: str | None = None,
                 eval_unit: str = "window", voice_encoder: str | None = None, audio_root: Path | None = None, gallery: dict | None = None):
    """The search on ``target``: its task's trial data (the earlier stages run on ``storage`` where the task needs
    them) and the checked space. ``voice_encoder`` names the encoder a voice search trains (a trainable one) or
    whose embeddings a generator search uses; ``gallery`` as ``tasks.generator.generator_data``'s."""
    from v2f_bench.search_space import load_target_space
    from v2f_bench.tasks.base import Context
    from v2f_bench.tasks.registry import task_of

    space = load_target_space(target, space_file, voice_encoder)
    context = Context(prepared, Path(run_dir), voice_config or {}, judge, storage, eval_unit, voice_encoder, audio_root, gallery)
    trials = task_of(target).setup(target, context)
    return SearchSetup(target, trials.data, space, prepared.manifest["cache_key"], trials.extra, trials.artifacts, trials.fixed)


def default_space_file(target: str) -> Path:
    """``search_spaces/<target>.yaml`` in the working directory, else the one shipped beside the package."""
    local = Path("search_spaces") / f"{target}.yaml"
    return local if local.is_file() else Path(__file__).resolve().parents[1] / "search_spaces" / f"{target}.yaml"


def best_result(results, space) -> dict:
    """The best trial by the space's metric, selected on validation metrics only; a one-line error when none finished."""
    try:
        best = results.get_best_result(metric=space.metric, mode=space.mode, scope="all", filter_nan_and_inf=True)
    except RuntimeError:
        best = None
    if best is None or best.metrics is None or space.metric not in best.metrics:
        errors = sum(1 for r in results if r.error is not None)
        raise UserError(f"no trial of the search reported {space.metric} ({errors} of {len(results)} trials failed); see the trial directories")
    return {"metric": space.metric, "value": best.metrics[space.metric], "config": best.config, "path": best.path,
            "trials": len(results), "failed": sum(1 for r in results if r.error is not None)}


def _asha(fixed: dict, budget: Budget, stop_on: dict):
    """ASHA over epochs; or, for generator trials with a FLOP budget (``budget_flops`` in the study's fixed settings), over
    the share of it spent, with milestones at the trials' rungs (halving steps from the first rung, reduction factor 2)."""
    from ray.tune.schedulers import ASHAScheduler

    from v2f_bench.models.family import reports_per_trial

    rungs = reports_per_trial(fixed, None)
    if rungs is None:
        return ASHAScheduler(time_attr="training_iteration", max_t=budget.max_epochs, grace_period=budget.grace_period, **stop_on)
    return ASHAScheduler(time_attr="budget_spent", max_t=1.0, grace_period=2.0 ** -(rungs - 1), reduction_factor=2, **stop_on)


def concurrency_with_data(budget: Budget, data: dict) -> int:
    """The search's concurrency, capped for trials that stream their rows (``data["streamed"]``) so that their trials
    together leave ``data.batches.DATA_CPUS`` of the cluster's CPUs to Ray Data's read tasks: Tune would otherwise take
    every CPU, and the read tasks, never scheduled, would hang the trials."""
    if not data.get("streamed"):
        return budget.concurrency
    import ray

    from v2f_bench.data.batches import DATA_CPUS

    free = ray.cluster_resources().get("CPU", 1) - DATA_CPUS
    if budget.cpus_per_trial > free:
        raise UserError(f"--cpus-per-trial {budget.cpus_per_trial:g}: trials that stream their data must leave {DATA_CPUS} of the cluster's "
                        f"{free + DATA_CPUS:g} CPUs to Ray Data; ask for at most {free:g}, or hold the data in memory (--data-path memory)")
    return max(1, min(budget.concurrency, int(free // max(budget.cpus_per_trial, 1e-9))))


def build_tuner(setup: SearchSetup, budget: Budget, storage: str, name: str, seed: int, tracking=None):
    """The ``ray.tune.Tuner`` of one search."""
    from optuna.samplers import TPESampler
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    from v2f_bench.compute import make_stopper
    from v2f_bench.console import search_progress, tune_verbosity
    from v2f_bench.study import ResumableOptunaSearch, StudyUpload, study_storage
    from v2f_bench.trainables import trainable_for

    verbosity = tune_verbosity()  # before the searcher: it creates the Optuna study, which logs unless quieted
    space = setup.space
    declared = setup.declaration()
    clash = sorted(set(setup.fixed) & set(space.names))
    if clash:
        raise UserError(f"{space.path}: searches {clash[0]!r}, which this study fixes; remove it from the space or from the fixed settings")
    declared.check(setup.fixed, "the study's fixed settings")
    fixed = {**setup.fixed, "max_epochs": budget.max_epochs, "seed": seed, **setup.data["task"].selects(setup.target)}
    first = [space.point(declared.defaults())] if setup.defaults_first else None
    progress = [c for c in [search_progress(name, budget.trials, budget.compute_budget())] if c is not None]
    exp = experiment(storage, name)
    study, journal = study_storage(exp)
    multi = len(space.objectives) > 1
    metric = [m for m, _ in space.objectives] if multi else space.metric
    mode = [d for _, d in space.objectives] if multi else space.mode
    searcher = ResumableOptunaSearch(space=space.define_by_run, metric=metric, mode=mode, sampler=TPESampler(seed=seed), study_name=name,
                                     storage=study, points_to_evaluate=first)
    searcher = ConcurrencyLimiter(searcher, max_concurrent=concurrency_with_data(budget, setup.data))
    if budget.scheduler == "asha":
        stop_on = {"metric": space.metric, "mode": space.mode} if multi else {}
        scheduler = _asha(setup.fixed, budget, stop_on)
    else:
        scheduler = FIFOScheduler()
    trainable = tune.with_resources(
        tune.with_parameters(trainable_for(setup.data), data=setup.data), {"cpu": budget.cpus_per_trial, "gpu": budget.gpus_per_trial}
    )
    return tune.Tuner(
        trainable,
        param_space=fixed,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            metric=None if multi else space.metric,
            mode=None if multi else space.mode,
            num_samples=budget.trials,
            time_budget_s=budget.time_budget_s,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_root(storage),
            failure_config=tune.FailureConfig(max_failures=budget.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=space.metric, checkpoint_score_order=space.mode),
            stop=None if budget.compute is None else make_stopper(budget.compute_budget()),
            callbacks=([] if exp.is_local else [StudyUpload(journal, exp)]) + (tracking.callbacks(name) if tracking else []) + progress,
            verbose=verbosity,
        ),
    )


def run_search(setup: SearchSetup, budget: Budget, storage: str, name: str, seed: int, tracking=None):
    """Run one search to the end and return Ray's ``ResultGrid``.

    The record is written before the first trial (so an interrupted search keeps its budget and
    target for ``--resume`` and the report) and again with the wall time at the end. A name that
    already holds a search is refused: mixing two searches' trials in one directory would corrupt both.
    """
    budget.validate()
    exp = experiment(storage, name)
    check_experiment(storage, name, setup.target, resume=False)
    record = _record(setup, budget, name, seed)
    try:
        fresh = exp.kind() == "missing"
    except OSError:
        fresh = False
    try:
        write_record(exp, record)
        exp.child(STAGES_FOLDER).write_artifacts(setup.artifacts)
        tuner = build_tuner(setup, budget, storage, name, seed, tracking)
    except OSError as exc:
        _discard_start(exp, fresh)
        raise UserError(f"--storage {storage}: cannot write the search into {exp} ({first_line(exc, type(exc).__name__)}); "
                        "choose a writable location or free some space") from None
    started = time.time()
    results = fit(tuner)
    record["wall_time_s"] = time.time() - started
    record["spent"] = spent_compute(results, budget)
    write_record(exp, record)
    return results


def spent_compute(results, budget: Budget) -> dict:
    """What the search's trials spent in total (``compute.spent``) and whether the compute budget ended it."""
    from v2f_bench.compute import spent

    totals = spent(results)
    compute = budget.compute_budget()
    totals["stopped_by_budget"] = compute is not None and compute.counted(totals) >= compute.amount
    return totals


def _discard_start(exp: Location, remove_folder: bool) -> None:
    """Remove what a search that could not start wrote (its record, its stage artifacts, the folder when it made it),
    so that no record is left as if a search had run there and the name stays free. Best effort: the cause is reported anyway."""
    exp.remove(SEARCH_RECORD)
    exp.remove(STAGES_FOLDER)
    if remove_folder:
        exp.remove()


def resume_search(setup: SearchSetup, storage: str, name: str):
    """Continue an interrupted search: finished trials stay, unfinished ones resume from their checkpoints."""
    from ray import tune

    exp = experiment(storage, name)
    path = str(exp)
    record = check_experiment(storage, name, setup.target, resume=True)
    if record is None:
        raise UserError(f"{path}: no {SEARCH_RECORD} beside the Ray results, so its budget is unknown; start a new search")
    from v2f_bench.study import fetch_study

    fetch_study(exp)
    set_aside_unrecorded(exp)
    resources = {"cpu": record["budget"]["cpus_per_trial"], "gpu": record["budget"]["gpus_per_trial"]}
    from v2f_bench.trainables import trainable_for

    trainable = tune.with_resources(tune.with_parameters(trainable_for(setup.data), data=setup.data), resources)
    tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=False, restart_errored=False)
    started = time.time()
    results = fit(tuner)
    set_aside_unrecorded(exp)  # a killed driver's trials that a cluster kept running may have written after the first pass
    record["resumed_wall_time_s"] = record.get("resumed_wall_time_s", 0.0) + time.time() - started
    record["spent"] = spent_compute(results, Budget(**record["budget"]))
    write_record(exp, record)
    return results


def set_aside_unrecorded(exp: Location) -> list[str]:
    """Before a resume: move the trial directories that Ray's newest snapshot of the search does not record into
    ``UNRECORDED_FOLDER``, and name them on the console; returns their names.

    Ray snapshots the search's trials every few seconds, while each trial writes its results as it goes; a driver killed
    between a trial's start and the next snapshot leaves that trial's directory behind, unknown to the snapshot. The
    resumed search knows nothing of it and runs that place of the budget again as a new trial, so the old directory
    would count as one trial more than the budget (and a second chance for its search). It is kept, out of the results;
    so is a trial directory Ray made but never wrote to. ``resume_search`` calls it before the restore and again once the
    search has ended: a driver that joined a cluster leaves its trials running there for a while after it is killed, and
    they may write (even recreate a moved directory) after the first pass. When Ray's newest snapshot is unreadable,
    nothing is moved (an older snapshot would leave out trials the newest records) and the console says so. Resuming a
    search whose driver still runs is a misuse this cannot guard against: that driver's newest trials would be moved
    from under it.
    """
    from v2f_bench.console import stage

    names = exp.listing()
    problems: list[str] = []
    recorded = read_trial_states(exp, names, problems)
    if recorded is None or problems:
        if problems:
            stage(f"{problems[0]}; trial directories it may not record are left where they are")
        return []
    stray = [name for name, listing in trial_folders(exp, names).items() if name not in recorded and (not listing or holds_trial(listing))]
    for name in stray:
        try:
            exp.move(name, exp.child(UNRECORDED_FOLDER).child(name))
        except OSError as exc:
            raise UserError(f"{exp}/{name}: cannot move this trial, which Ray's snapshot does not record, into {UNRECORDED_FOLDER} "
                            f"({first_line(exc, type(exc).__name__)}); move it out of the experiment by hand and resume again") from None
        stage(f"{exp}/{name}: a trial started after Ray's last snapshot of the interrupted search; its place in the budget "
              f"runs again, and its directory is kept in {UNRECORDED_FOLDER}/, out of the results")
    return stray


def check_experiment(storage: str, name: str, target: str, resume: bool) -> dict | None:
    """A new search must not land on an earlier one, and a resumed one must exist and be a search of ``target``;
    returns the experiment's search record (None when it has none). The CLI asks before Ray starts."""
    from ray import tune

    exp = experiment(storage, name)
    path = str(exp)
    restorable = tune.Tuner.can_restore(path)
    record = read_record(exp)
    if resume:
        if not restorable:
            raise UserError(f"{path}: no interrupted search to resume there (no Ray experiment state); run it without --resume")
        if record is not None and record.get("target") != target:
            raise UserError(f"{path}: that search is for {record.get('target')!r}, not {target!r}")
    elif restorable or record is not None:
        raise UserError(f"{path}: a search of that name exists; continue it with --resume or choose another --name")
    _check_writable(exp, storage)
    return record


def _check_writable(exp: Location, storage: str) -> None:
    """A local experiment folder that cannot be made or written is refused here, before Ray starts: its nearest
    existing folder (or a file standing in the way) must be a directory this user may write into. A storage URI
    (S3) is only known writable once written; ``run_search`` reports that failure the same way."""
    import os

    if not exp.is_local:
        return
    path = Path(exp.path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        reason = f"{existing} is a file"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"{existing} is not writable"
    else:
        return
    raise UserError(f"--storage {storage}: cannot write the search into {exp} ({reason}); choose a writable location or free some space")


def _record(setup: SearchSetup, budget: Budget, name: str, seed: int) -> dict:
    space = setup.space
    return {
        "target": setup.target,
        "role": setup.declaration().role,
        "name": name,
        "seed": seed,
        "metric": space.metric,
        "mode": space.mode,
        "objectives": [list(objective) for objective in space.objectives],
        "space_file": str(space.path),
        "space": asdict(space),
        "budget": asdict(budget),
        "fixed": dict(setup.fixed),
        "defaults_first": setup.defaults_first,
        "prepared": setup.prepared_key,
        **setup.extra,
    }


def write_record(exp: Location, record: dict) -> None:
    """Write ``v2f_search.json`` into the experiment folder."""
    exp.write_json(SEARCH_RECORD, record)


def read_record(exp: Location | str) -> dict | None:
    """The experiment's ``v2f_search.json`` (None when missing or unreadable)."""
    exp = exp if isinstance(exp, Location) else Location.parse(exp)
    record = exp.read_json(SEARCH_RECORD)
    return record if isinstance(record, dict) else None
