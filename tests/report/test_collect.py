"""Collecting experiment directories into tidy tables, offline, on small real searches.

One module fixture runs, on the tiny synthetic dataset, a comparison-like root with two voice searches
(seeds 0 and 1, ASHA, 2 epochs) and a second root whose only search fails in every trial (a planted bad
hyperparameter value). Ray is shut down before any test reads them: the report needs no session.
Damaged copies of these directories stand for a search still writing, a crash, or a wrong path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from v2f_bench.errors import UserError
from v2f_bench.report import collect as collect_module
from v2f_bench.report.collect import STATUSES, TRIAL_COLUMNS, collect, find_experiments

pytestmark = pytest.mark.slow

SEED_TRIALS = {0: 3, 1: 2}
"""Trials per seed of the two voice searches under the comparison root."""
MAX_EPOCHS = 2


@pytest.fixture(scope="module")
def searches(prepared_dir, tmp_path_factory, shared_ray) -> dict:
    """Two real voice searches under ``compare/`` and one all-failing search under ``broken/``, on the session's Ray."""
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.search import Budget, SearchSetup, default_space_file, run_search
    from v2f_bench.storage import Location
    from v2f_bench.search_space import load_space
    from v2f_bench.tasks.voice import VoiceTask
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder

    base = tmp_path_factory.mktemp("collect")
    prepared = load_prepared(prepared_dir)
    key = prepared.manifest["cache_key"]
    space = load_space(default_space_file("voice"))
    bad_file = base / "bad.yaml"
    bad_file.write_text("target: voice\nmetric: val_clip_accuracy\nmode: max\nparameters:\n"
                        "  variant: {type: choice, values: [bogus]}\n  lr: {type: loguniform, low: 1.0e-4, high: 1.0e-2}\n")
    bad_space = load_space(bad_file)
    data, _ = VoiceTask.trial_data(resolve_voice_encoder(None), prepared, {})
    shared_ray()
    compare, broken = base / "compare", base / "broken"
    for seed, trials in SEED_TRIALS.items():
        budget = Budget(trials=trials, max_epochs=MAX_EPOCHS, grace_period=1, concurrency=2, scheduler="asha")
        run_search(SearchSetup("voice", data, space, key), budget, str(compare), f"voice-s{seed}", seed)
    Location.parse(compare).write_json("compare.json", {"families": ["voice"], "seeds": list(SEED_TRIALS), "prepared": key,
                                              "searches": [{"experiment": f"voice-s{s}", "seed": s} for s in SEED_TRIALS]})
    budget = Budget(trials=2, max_epochs=MAX_EPOCHS, concurrency=2, scheduler="asha", max_failures=0)
    run_search(SearchSetup("voice", data, bad_space, key), budget, str(broken), "voice-bad", 0)
    return {"compare": compare, "broken": broken, "prepared": key, "base": base}


def copy_of(searches, tmp_path, name: str = "compare") -> Path:
    """A private copy of one of the roots, for a test to damage."""
    return Path(shutil.copytree(searches[name], tmp_path / name))


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def result_lines(trial: Path) -> list[str]:
    return [line for line in (trial / "result.json").read_text().splitlines() if line.strip()]


def edit_state(experiment: Path, change) -> None:
    """Apply ``change(trial: dict)`` to every trial in Ray's experiment_state-*.json (plain JSON text)."""
    for path in experiment.glob("experiment_state-*.json"):
        state = json.loads(path.read_text())
        for pair in state["trial_data"]:
            trial = json.loads(pair[0])
            change(trial)
            pair[0] = json.dumps(trial)
        path.write_text(json.dumps(state))


# ----------------------------------------------------------------------------- the tables


def test_every_trial_is_a_row_with_its_status_config_and_test_metrics(searches, ray_private):
    import ray

    assert not ray.is_initialized(), "the report must read the directories without a Ray session"
    collection = collect([str(searches["compare"])])
    trials = collection.trials
    assert list(trials.columns[: len(TRIAL_COLUMNS)]) == TRIAL_COLUMNS
    assert set(trials["role"]) == {"voice"}, "the search record's role (targets.Target.role) reaches every row"
    assert trials.groupby("seed").size().to_dict() == SEED_TRIALS
    assert set(trials["experiment"]) == {"voice-s0", "voice-s1"} and set(trials["target"]) == {"voice"}
    assert set(trials["status"]) <= {"completed", "stopped"} and trials["error"].isna().all()
    assert (trials["status"] == "completed").eq(trials["epochs"] == MAX_EPOCHS).all()
    assert (trials["metric"] == "val_clip_accuracy").all() and (trials["mode"] == "max").all()
    assert (trials["prepared"] == searches["prepared"]).all() and (trials["cpus"] == 1).all() and (trials["gpus"] == 0).all()
    assert trials["node_id"].notna().all() and (trials["time_s"] > 0).all()
    for name in ("lr", "batch_size", "patience", "seed", "max_epochs"):
        assert trials[f"config/{name}"].notna().all(), name
    assert trials["config/lr"].nunique() == len(trials)
    for name in ("accuracy", "clip_accuracy"):
        assert trials[f"test/{name}"].between(0, 1).all(), name
    assert trials["test_epoch"].between(1, MAX_EPOCHS).all()
    for path in trials["checkpoint"]:
        assert (Path(path) / "test_metrics.json").is_file()
    record = collection.records[str(searches["compare"] / "voice-s0")]
    assert record["search"]["budget"]["max_epochs"] == MAX_EPOCHS and record["compare"]["families"] == ["voice"]
    assert collection.problems == []


def test_the_epochs_frame_has_one_row_per_reported_epoch(searches):
    collection = collect([str(searches["compare"])])
    epochs, trials = collection.epochs, collection.trials
    for trial in trial_dirs(searches["compare"] / "voice-s0") + trial_dirs(searches["compare"] / "voice-s1"):
        reported = [json.loads(line) for line in result_lines(trial)]
        rows = epochs[epochs["trial_id"] == reported[0]["trial_id"]]
        assert rows["training_iteration"].tolist() == [r["training_iteration"] for r in reported]
        assert rows["val_clip_accuracy"].tolist() == pytest.approx([r["val_clip_accuracy"] for r in reported])
    assert len(epochs) == trials["epochs"].sum()
    assert {"time_total_s", "epoch", "train_loss", "val_loss", "val_accuracy"} <= set(epochs.columns)
    assert "node_id" not in epochs.columns, "only numeric metrics"
    by_trial = epochs.groupby("trial_id")["val_clip_accuracy"]
    assert trials.set_index("trial_id")["best_val"].to_dict() == pytest.approx(by_trial.max().to_dict())
    assert trials.set_index("trial_id")["final_val"].to_dict() == pytest.approx(by_trial.last().to_dict())


def test_two_roots_combine_and_failed_trials_are_counted_with_their_reason(searches):
    collection = collect([str(searches["compare"]), str(searches["broken"])])
    trials = collection.trials
    assert len(trials) == sum(SEED_TRIALS.values()) + 2
    assert set(trials["root"]) == {str(searches["compare"]), str(searches["broken"])}
    failed = trials[trials["status"] == "failed"]
    assert set(failed["experiment"]) == {"voice-bad"} and len(failed) == 2
    assert failed["error"].str.contains("variant: 'bogus' is not one of 'paper-text', 'paper-code'").all()
    assert (failed["epochs"] == 0).all() and failed["best_val"].isna().all() and failed["checkpoint"].isna().all()
    assert any("voice-bad: all 2 trials failed" in p and "variant: 'bogus' is not one of" in p for p in collection.problems)
    assert set(collection.best_trials()["experiment"]) == {"voice-s0", "voice-s1"}
    counts = collection.counts().set_index("experiment")
    assert counts.loc["voice-bad", "failed"] == 2 and counts.loc["voice-bad", "trials"] == 2
    assert counts.loc["voice-s0", "trials"] == SEED_TRIALS[0] and counts.loc["voice-s0", "cpu_s"] > 0
    assert set(counts.columns) >= set(STATUSES)


def test_a_failed_trial_is_never_chosen_as_best_even_with_the_highest_score(searches, tmp_path):
    root = copy_of(searches, tmp_path)
    experiment = root / "voice-s0"
    best = collect([str(experiment)]).best_trials().iloc[0]
    trial = Path(best["trial_path"])
    lines = result_lines(trial)
    top = json.loads(lines[-1]) | {"val_clip_accuracy": 1.0}
    (trial / "result.json").write_text("\n".join(lines[:-1] + [json.dumps(top)]) + "\n")
    (trial / "error.txt").write_text("Failure # 1 (occurred at 2026-01-01_00-00-00)\nray::ImplicitFunc.train() (pid=1)\n"
                                     "  File \"x.py\", line 1, in f\nRuntimeError: planted crash\n")
    edit_state(experiment, lambda t: t.update(status="ERROR") if t["trial_id"] == best["trial_id"] else None)

    collection = collect([str(experiment)])
    row = collection.trials.set_index("trial_id").loc[best["trial_id"]]
    assert row["status"] == "failed" and row["error"] == "RuntimeError: planted crash" and row["best_val"] == 1.0
    chosen = collection.best_trials()
    assert len(chosen) == 1 and chosen.iloc[0]["trial_id"] != best["trial_id"] and chosen.iloc[0]["status"] != "failed"


def test_the_checkpoint_of_the_best_epoch_carries_the_test_values(searches, tmp_path):
    """Epoch 1 made best on validation: its kept checkpoint's test_metrics.json is the one reported."""
    root = copy_of(searches, tmp_path)
    trial = trial_dirs(root / "voice-s0")[0]
    rows = [json.loads(line) for line in result_lines(trial)]
    rows[0]["val_clip_accuracy"], rows[1]["val_clip_accuracy"] = 0.9, 0.1
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (trial / rows[0]["checkpoint_dir_name"] / "test_metrics.json").write_text(json.dumps({"test_accuracy": 0.123, "epoch_of_model": 1}))

    row = collect([str(root / "voice-s0")]).trials.set_index("trial_id").loc[rows[0]["trial_id"]]
    assert (row["best_val"], row["best_epoch"], row["final_val"]) == (0.9, 1, 0.1)
    assert row["test/accuracy"] == 0.123 and row["test_epoch"] == 1 and row["checkpoint"].endswith(rows[0]["checkpoint_dir_name"])

    shutil.rmtree(trial / rows[0]["checkpoint_dir_name"])  # not kept: the latest checkpoint stands in
    row = collect([str(root / "voice-s0")]).trials.set_index("trial_id").loc[rows[0]["trial_id"]]
    assert row["checkpoint"].endswith(rows[1]["checkpoint_dir_name"]) and row["test/accuracy"] != 0.123


# ----------------------------------------------------------------------------- finding experiments


@pytest.mark.parametrize(
    "argument, uri, expected",
    [
        pytest.param("compare", False, ["compare/voice-s0", "compare/voice-s1"], id="comparison-root"),
        pytest.param("compare/voice-s1", False, ["compare/voice-s1"], id="one-experiment"),
        pytest.param(".", False, ["broken/voice-bad", "compare/voice-s0", "compare/voice-s1"], id="folder-of-roots"),
        pytest.param("compare", True, ["compare/voice-s0", "compare/voice-s1"], id="storage-uri"),
    ],
)
def test_find_experiments(searches, argument, uri, expected):
    prefix = "file://" if uri else ""
    base = searches["base"]
    assert find_experiments([f"{prefix}{base / argument}"]) == [f"{prefix}{base / e}" for e in expected]


def test_a_storage_uri_is_collected_like_a_local_path(searches):
    local = collect([str(searches["compare"])]).trials
    remote = collect([f"file://{searches['compare']}"]).trials
    assert remote["trial_id"].tolist() == local["trial_id"].tolist()
    assert remote["test/accuracy"].tolist() == local["test/accuracy"].tolist()
    assert remote["checkpoint"].str.startswith("file://").all()


# ----------------------------------------------------------------------------- damaged or incomplete directories


def truncate_last_result(root: Path) -> None:
    """A search still writing: the last line of one result.json is cut in the middle."""
    trial = trial_dirs(root / "voice-s0")[0]
    text = (trial / "result.json").read_text()
    (trial / "result.json").write_text(text[: len(text) - 40])


def truncate_state(root: Path) -> None:
    for path in (root / "voice-s0").glob("experiment_state-*.json"):
        path.write_text(path.read_text()[:200])


def corrupt_record(root: Path) -> None:
    (root / "voice-s0" / "v2f_search.json").write_text('{"target": "voice", "metric":')


def remove_results(root: Path) -> None:
    """A trial Ray has created but that has not reported yet."""
    trial = trial_dirs(root / "voice-s0")[0]
    for name in ("result.json", "params.json", "progress.csv", "params.pkl"):
        (trial / name).unlink(missing_ok=True)


def add_empty_experiment(root: Path) -> None:
    (root / "voice-s2").mkdir()


def add_starting_experiment(root: Path) -> None:
    """Ray has created the directory but written neither its state nor (in this case) our record."""
    (root / "voice-s3").mkdir()
    (root / "voice-s3" / "tuner.pkl").write_bytes(b"")


def mark_running(root: Path) -> str:
    """Ray's state says every trial of voice-s1 is running; one of them has reported only its first epoch."""
    edit_state(root / "voice-s1", lambda t: t.update(status="RUNNING"))
    trial = trial_dirs(root / "voice-s1")[0]
    first = result_lines(trial)[0]
    (trial / "result.json").write_text(first + "\n")
    return json.loads(first)["trial_id"]


def drop_experiment(root: Path) -> None:
    shutil.rmtree(root / "voice-s1")


N = sum(SEED_TRIALS.values())


@pytest.mark.parametrize(
    "damage, problem, rows",
    [
        pytest.param(truncate_last_result, "result.json: line 2 is incomplete (still being written?)", N, id="truncated-result-line"),
        pytest.param(truncate_state, "Ray's experiment state is unreadable (half-written?); trial statuses inferred", N, id="half-written-ray-state"),
        pytest.param(corrupt_record, "voice-s0/v2f_search.json: unreadable", SEED_TRIALS[1], id="corrupt-search-record"),
        pytest.param(remove_results, "has no results yet (terminated); skipped", N - 1, id="trial-without-results"),
        pytest.param(add_empty_experiment, "voice-s2: empty directory", N, id="empty-experiment-dir"),
        pytest.param(add_starting_experiment, "voice-s3: Ray files but no v2f_search.json", N, id="experiment-just-starting"),
        pytest.param(drop_experiment, "compare.json lists voice-s1 but that directory is missing", SEED_TRIALS[0], id="listed-experiment-missing"),
    ],
)
def test_damaged_directories_are_read_as_far_as_possible_and_say_what_was_skipped(searches, tmp_path, damage, problem, rows):
    root = copy_of(searches, tmp_path)
    damage(root)
    collection = collect([str(root)])
    assert len(collection.trials) == rows
    assert any(problem in p for p in collection.problems), collection.problems
    assert all("\n" not in p for p in collection.problems)


def test_a_truncated_result_line_loses_only_that_epoch(searches, tmp_path):
    root = copy_of(searches, tmp_path)
    truncate_last_result(root)
    trial_id = json.loads(result_lines(trial_dirs(root / "voice-s0")[0])[0])["trial_id"]
    collection = collect([str(root)])
    assert collection.trials.set_index("trial_id").loc[trial_id, "epochs"] == 1
    assert (collection.epochs["trial_id"] == trial_id).sum() == 1


def test_statuses_are_inferred_from_the_trial_files_when_the_ray_state_is_unreadable(searches, tmp_path):
    intact = collect([str(searches["compare"])]).trials.set_index("trial_id")["status"]
    root = copy_of(searches, tmp_path)
    truncate_state(root)
    inferred = collect([str(root)]).trials.set_index("trial_id")["status"]
    assert inferred.to_dict() == intact.to_dict()


def test_a_trial_still_running_is_unfinished(searches, tmp_path):
    root = copy_of(searches, tmp_path)
    trial_id = mark_running(root)
    trials = collect([str(root)]).trials.set_index("trial_id")
    assert trials.loc[trial_id, "status"] == "unfinished" and trials.loc[trial_id, "epochs"] == 1


@pytest.mark.parametrize(
    "make, message",
    [
        pytest.param(lambda tmp: tmp / "nowhere", "nowhere: no such directory", id="missing-path"),
        pytest.param(lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "nothing usable in", id="empty-dir"),
        pytest.param(lambda tmp: (tmp / "f.txt").write_text("x") and tmp / "f.txt", "is a file", id="a-file"),
    ],
)
def test_unusable_paths_give_one_line_errors(tmp_path, make, message):
    with pytest.raises(UserError) as error:
        collect([str(make(tmp_path))])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_experiment_with_only_a_corrupt_record_is_nothing_usable(searches, tmp_path):
    root = copy_of(searches, tmp_path)
    corrupt_record(root)
    with pytest.raises(UserError, match=r"nothing usable in .*v2f_search.json: unreadable"):
        collect([str(root / "voice-s0")])


def test_experiments_from_different_prepared_datasets_are_not_merged_unless_allowed(searches, tmp_path):
    other = copy_of(searches, tmp_path)
    record = json.loads((other / "voice-s1" / "v2f_search.json").read_text())
    (other / "voice-s1" / "v2f_search.json").write_text(json.dumps(record | {"prepared": "0123456789abcdef-other"}))
    with pytest.raises(UserError) as error:
        collect([str(searches["compare"]), str(other)])
    message = str(error.value)
    assert "different prepared datasets" in message and "\n" not in message
    assert str(other / "voice-s1") in message and "0123456789ab" in message and searches["prepared"][:12] in message
    mixed = collect([str(searches["compare"]), str(other)], allow_mixed=True)
    assert mixed.trials["prepared"].nunique() == 2 and any("different prepared datasets (allowed)" in p for p in mixed.problems)


# ----------------------------------------------------------------------------- the rules, one by one


@pytest.mark.parametrize(
    "ray_status, epochs, error, last, expected",
    [
        pytest.param("TERMINATED", 2, False, {}, "completed", id="ran-all-epochs"),
        pytest.param("TERMINATED", 1, False, {}, "stopped", id="asha-stopped-early"),
        pytest.param("TERMINATED", 2, True, {}, "completed", id="recovered-after-a-retry"),
        pytest.param("ERROR", 1, True, {}, "failed", id="errored"),
        pytest.param("ERROR", 0, True, None, "failed", id="errored-before-any-epoch"),
        pytest.param("RUNNING", 1, False, {}, "unfinished", id="still-running"),
        pytest.param("PAUSED", 1, False, {}, "unfinished", id="paused"),
        pytest.param(None, 2, False, {"done": True}, "completed", id="no-state-all-epochs"),
        pytest.param(None, 1, False, {"done": True}, "stopped", id="no-state-stopped"),
        pytest.param(None, 1, True, {"done": False}, "failed", id="no-state-error-file"),
        pytest.param(None, 1, False, {"done": False}, "unfinished", id="no-state-still-writing"),
    ],
)
def test_trial_status(ray_status, epochs, error, last, expected):
    assert collect_module._trial_status(ray_status, epochs, 2, error, last) == expected


RAY_ERROR = """Failure # 1 (occurred at 2026-11-25_13-06-27)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=6678, ip=192.0.2.2, repr=train_voice)
  File "/home/user/v2f_bench/v2f_bench/trainables.py", line 129, in wrapped
    trainable(config, data)
           ^^^^^^^^^^^^^^^^
ValueError: unknown VoiceCNN variant 'bogus'; choose one of paper-text, paper-code
"""


@pytest.mark.parametrize(
    "text, reason, failures",
    [
        pytest.param(RAY_ERROR, "ValueError: unknown VoiceCNN variant 'bogus'; choose one of paper-text, paper-code", 1, id="ray-task-error"),
        pytest.param(RAY_ERROR + RAY_ERROR.replace("# 1", "# 2").replace("ValueError: unknown", "v2f_bench.trainables.TrialDiverged: nan in"),
                     "v2f_bench.trainables.TrialDiverged: nan in VoiceCNN variant 'bogus'; choose one of paper-text, paper-code", 2,
                     id="the-last-of-several-failures"),
        pytest.param("Failure # 1 (occurred at x)\nThe actor died unexpectedly before finishing this task.\n\tclass_name: ImplicitFunc\n",
                     "The actor died unexpectedly before finishing this task.", 1, id="worker-died"),
        pytest.param(None, None, 0, id="no-error-file"),
    ],
)
def test_failure_reason_is_one_line(text, reason, failures):
    assert collect_module._failure(text) == (reason, failures)


def test_file_names_match_what_the_search_and_trainables_write():
    from v2f_bench import artifacts, compare, search

    assert collect_module.SEARCH_RECORD == search.SEARCH_RECORD
    assert collect_module.COMPARE_RECORD == compare.COMPARE_RECORD
    assert collect_module.TEST_METRICS_FILE == artifacts.TEST_METRICS_FILE
    assert collect_module.DIVERGED_FILE == artifacts.DIVERGED_FILE


# ----------------------------------------------------------------------------- compute counters, on constructed folders


def write_experiment(root: Path, rows: list[dict], cpus: int = 2, gpus: int = 0) -> Path:
    """A hand-made finished experiment of one trial: the search record, params.json and result.json lines."""
    experiment = root / "vae-s0"
    trial = experiment / "train_gen_abc12_00000_0_lr=0.001"
    trial.mkdir(parents=True)
    (experiment / "v2f_search.json").write_text(json.dumps({
        "target": "vae", "seed": 0, "metric": "val_verification_accuracy", "mode": "max", "prepared": "key",
        "budget": {"max_epochs": len(rows), "cpus_per_trial": cpus, "gpus_per_trial": gpus}}))
    (trial / "params.json").write_text(json.dumps({"lr": 0.001, "precision": "bf16", "latent_dim": 64}))
    lines = [{"training_iteration": k + 1, "epoch": k + 1, "trial_id": "abc12_00000", "time_total_s": 10.0 * (k + 1),
              "val_verification_accuracy": 0.5 + 0.1 * k, "done": k + 1 == len(rows), **row} for k, row in enumerate(rows)]
    (trial / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return experiment


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        pytest.param({"train_flops": 2e12, "train_steps": 40, "images_seen": 640, "cpu_s": 55.0, "gpu_s": 0.0},
                     {"train_flops": 2e12, "train_steps": 40, "images_seen": 640, "cpu_s": 55.0, "gpu_s": 0.0}, id="reported-counters-win"),
        pytest.param({}, {"train_flops": None, "train_steps": None, "images_seen": None, "cpu_s": 40.0, "gpu_s": 0.0},
                     id="old-experiment-falls-back-to-time-x-resources"),
    ],
)
def test_compute_counters_come_from_the_last_reported_row(tmp_path, reported, expected):
    first = {key: value / 2 for key, value in reported.items()}
    collection = collect(str(write_experiment(tmp_path, [first, reported])))
    row = collection.trials.iloc[0]
    for key, value in expected.items():
        assert (pd.isna(row[key]) if value is None else row[key] == value), key
    assert row["config/precision"] == "bf16" and row["config/latent_dim"] == 64
    counts = collection.counts().iloc[0]
    assert counts["cpu_s"] == expected["cpu_s"], "the counts table and the trial column must agree on one CPU-s"
    if reported:
        assert list(collection.epochs["train_flops"]) == [1e12, 2e12]
