"""Searches on Ray Tune with Optuna: a tiny real search, resume after the driver is killed, two nodes, compare."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from v2f_bench.artifacts import OPTUNA_STUDY, UNRECORDED_FOLDER
from v2f_bench.cli import main
from v2f_bench.data.prepared import load_prepared
from v2f_bench.judge import JudgeConfig
from v2f_bench.search import SEARCH_RECORD, Budget, best_result, default_space_file, run_search, set_aside_unrecorded
from v2f_bench.search import search_setup
from v2f_bench.storage import Location, read_trial_states

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_shared")]
CLI = str(Path(sys.executable).with_name("v2f-bench"))


def trial_results(experiment: Path) -> dict[str, list[dict]]:
    """Each trial directory's reported rows, read from Ray's result.json files."""
    rows = {}
    for path in glob.glob(str(experiment / "*" / "result.json")):
        lines = Path(path).read_text().splitlines()
        rows[Path(path).parent.name] = [json.loads(line) for line in lines if line.strip()]
    return rows


def test_a_tiny_search_with_optuna_and_asha_writes_ray_results_and_its_record(prepared_dir, tmp_path, capsys):
    code = main(["tune", "voice", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path), "--trials", "3", "--max-epochs", "2",
                 "--storage", str(tmp_path / "searches"), "--seed", "3"])
    assert code == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "voice: 3 trials, 0 failed; best val_clip_accuracy" in out
    assert "voice: 3 done, 0 running, 0 failed; 3 of 3 trials" in captured.err, "the progress line, not Ray's tables"
    assert "Trial status" not in out + captured.err and "Configuration for experiment" not in out
    experiment = tmp_path / "searches" / "voice"
    rows = trial_results(experiment)
    assert len(rows) == 3 and all(1 <= len(r) <= 2 for r in rows.values())
    record = json.loads((experiment / SEARCH_RECORD).read_text())
    assert record["budget"]["trials"] == 3 and record["budget"]["scheduler"] == "asha" and record["metric"] == "val_clip_accuracy"
    assert record["prepared"] == load_prepared(prepared_dir).manifest["cache_key"]
    configs = [json.loads((experiment / trial / "params.json").read_text()) for trial in rows]
    assert len({c["lr"] for c in configs}) == 3 and all(c["seed"] == 3 and c["max_epochs"] == 2 for c in configs)
    assert all(list((experiment / trial).glob("events.out.tfevents.*")) for trial in rows), "a TensorBoard event file in every trial"
    study = load_study(experiment, "voice")
    assert sorted(t.params["lr"] for t in study.trials) == sorted(c["lr"] for c in configs)
    assert all(t.state.name == "COMPLETE" for t in study.trials), "every trial told to Optuna"
    # Ray passes a trial's last report to the searcher as its completion, so a trial that reported
    # once has no intermediate value; the others carry their per-epoch values for the dashboard.
    assert any(t.intermediate_values for t in study.trials)


def test_verbose_restores_rays_own_console_output(prepared_dir, tmp_path, capsys, ray_private):
    code = main(["tune", "voice", "--verbose", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path), "--trials", "1",
                 "--max-epochs", "1", "--storage", str(tmp_path / "searches")])
    assert code == 0
    captured = capsys.readouterr()
    assert "Configuration for experiment" in captured.out and "Trial status" in captured.out
    assert "voice: 1 done" not in captured.err, "Ray's output replaces the progress line"


def load_study(experiment: Path, name: str):
    """The search's Optuna study from its journal file, as optuna-dashboard opens it."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(experiment / OPTUNA_STUDY))))


def _finished_trials(experiment: Path) -> set[str]:
    """Trial ids Ray's own experiment snapshot records as TERMINATED."""
    loc = Location.parse(experiment)
    states = read_trial_states(loc, loc.listing(), []) or {}
    return {state["trial_id"] for state in states.values() if state["status"] == "TERMINATED"}


def test_a_search_killed_mid_run_resumes_without_losing_or_rerunning_finished_trials(prepared_dir, tmp_path):
    storage = tmp_path / "searches"
    experiment = storage / "voice"
    command = [CLI, "tune", "voice", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path), "--trials", "4", "--max-epochs", "2",
               "--concurrency", "1", "--scheduler", "fifo", "--storage", str(storage)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(_finished_trials(experiment)) < 1:
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = _finished_trials(experiment)
    assert finished, "no trial finished before the time limit"
    existing = trial_results(experiment)
    before = {name: rows for name, rows in existing.items() if rows and rows[-1]["trial_id"] in finished}
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = trial_results(experiment)
    for name, rows in before.items():
        assert after[name] == rows, f"finished trial {name} was rerun"
    unrecorded = trial_results(experiment / UNRECORDED_FOLDER)
    assert set(existing) <= set(after) | set(unrecorded), "a trial that existed at the kill was lost"
    assert set(after) == set(read_trial_states(Location.parse(experiment), Location.parse(experiment).listing(), [])), \
        "the results hold the trials Ray records; one it never recorded is set aside (the next test)"
    assert all(rows[-1]["epoch"] == 2 for rows in after.values()), "every trial, finished or resumed, ran to its last epoch"
    # Usually all 4 trials exist now; the bound allows one sample the restored search counts as spent without a
    # trial, which the trials' snapshot would miss if the searcher's snapshot were written after it. It never loses or
    # reruns a trial the snapshot holds.
    assert 3 <= len(after) <= 4
    completed = [t for t in load_study(experiment, "voice").trials if t.state.name == "COMPLETE"]
    assert len(completed) == len(after), "the resumed search went on in the same Optuna study"


def test_a_trial_rays_snapshot_never_recorded_is_set_aside_before_a_resume_and_listed_not_counted(diverging_search, tmp_path):
    """A driver killed after a trial started but before Ray's next snapshot of the search leaves that trial's directory
    behind; the resumed search runs that place of the budget again, so the old directory must not count as a trial."""
    from v2f_bench.report.collect import collect

    experiment = Path(shutil.copytree(diverging_search.experiment, tmp_path / "tiny-linear"))
    recorded = sorted(trial_results(experiment))
    stray = "train_tiny-linear_0badcafe_5_2026-12-05_00-00-00"
    shutil.copytree(experiment / recorded[0], experiment / stray)
    assert len(collect([str(experiment)]).trials) == len(recorded) + 1, "left in place, the report would count it"
    loc = Location.parse(experiment)
    assert set_aside_unrecorded(loc) == [stray]
    assert sorted(trial_results(experiment)) == recorded
    assert (experiment / UNRECORDED_FOLDER / stray / "result.json").is_file(), "kept, nothing is lost"
    collection = collect([str(experiment)])
    assert len(collection.trials) == len(recorded) == 4
    assert [p for p in collection.problems if f"{UNRECORDED_FOLDER}/{stray}" in p and "not counted" in p]
    assert set_aside_unrecorded(loc) == [], "the trials Ray records stay where they are"

    shutil.copytree(experiment / recorded[0], experiment / stray)
    for state in experiment.glob("experiment_state-*.json"):
        state.write_text(state.read_text()[:100])
    assert set_aside_unrecorded(loc) == [] and (experiment / stray).is_dir(), \
        "with Ray's snapshot unreadable, no directory is known to be unrecorded, so none is moved"


def test_a_search_on_a_two_node_cluster_places_trials_on_both_nodes(prepared_dir, tmp_path, ray_private):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        setup = search_setup("voice", default_space_file("voice"), load_prepared(prepared_dir), tmp_path, {}, JudgeConfig())
        budget = Budget(trials=4, max_epochs=2, concurrency=2, cpus_per_trial=1, scheduler="fifo")
        results = run_search(setup, budget, str(tmp_path / "searches"), "two_nodes", seed=0)
        nodes = {r.metrics["node_id"] for r in results}
        assert nodes == {node["NodeID"] for node in ray.nodes() if node["Alive"]}
        assert len(nodes) == 2
        assert best_result(results, setup.space)["failed"] == 0
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_compare_gives_each_family_the_same_budget_and_writes_the_record(prepared_dir, staged_run_dir, tmp_path, capsys):
    code = main(["compare", "--families", "vae,rcgan", "--seeds", "1", "--trials", "1", "--max-epochs", "1", "--prepared", str(prepared_dir),
                 "--run-dir", str(staged_run_dir), "--storage", str(tmp_path / "searches"), "--judge-epochs", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "vae      seed 0" in out and "rcgan    seed 0" in out
    record = json.loads((tmp_path / "searches" / "compare" / "compare.json").read_text())
    assert record["families"] == ["vae", "rcgan"] and record["budget"]["trials"] == 1 and record["budget"]["max_epochs"] == 1
    assert [s["experiment"] for s in record["searches"]] == ["vae-s0", "rcgan-s0"]
    assert record["resources"]["cluster_cpus"] >= 1 and "tau" in record["stages"]["judge_stage"]
    for experiment in ("vae-s0", "rcgan-s0"):
        search = json.loads((tmp_path / "searches" / "compare" / experiment / SEARCH_RECORD).read_text())
        assert search["budget"] == record["budget"]


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["tune", "unicorn"], "unknown target", id="unknown-target"),
        pytest.param(["tune", "voice", "--grace-period", "9", "--max-epochs", "2"], "--grace-period", id="grace-beyond-epochs"),
        pytest.param(["tune", "voice", "--trials", "0"], "--trials", id="no-trials"),
        pytest.param(["tune", "voice", "--space", "search_spaces/vae.yaml"], "not a hyperparameter of this target", id="space-of-another-target"),
        pytest.param(["tune", "voice", "--resume", "--name", "never-ran"], "no interrupted search", id="resume-nothing"),
    ],
)
def test_search_mistakes_get_one_line(prepared_dir, tmp_path, capsys, argv, message):
    argv = [a if a != "search_spaces/vae.yaml" else str(default_space_file("vae")) for a in argv]
    code = main([*argv, "--prepared", str(prepared_dir), "--run-dir", str(tmp_path), "--storage", str(tmp_path / "searches")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not any("Traceback" in line for line in err)
