"""The resource check of tune, compare and paper against a real Ray cluster: a trial no node can hold
is refused in one line before any stage trains; a concurrency the cluster only partly holds is a warning."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from v2f_bench.cli import main
from v2f_bench.errors import UserError
from v2f_bench.resources import BOOTSTRAP_CONFIG, check_trial_resources

pytestmark = pytest.mark.slow

CLUSTER_FILE = Path(__file__).resolve().parents[1] / "cluster.yaml"
NO_GPU = "(1 node alive; the most on one node: 2 CPUs, 0 GPUs), so it would wait for ever"
ADDRESS = "or use --address to reach a cluster with such a node"


@pytest.fixture(scope="module")
def two_cpus():
    """A private local Ray instance of 2 CPUs and no GPU, which the commands join instead of starting their own
    (the session's shared instance is stopped first: its GPUs are whatever Ray finds)."""
    import ray

    if BOOTSTRAP_CONFIG.expanduser().exists():
        pytest.skip(f"{BOOTSTRAP_CONFIG} exists: this is an autoscaling cluster's head, whose node types count as well")
    ray.shutdown()
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("v2f-bench")]


def test_a_trial_must_fit_on_one_node_of_a_multi_node_cluster(tmp_path, capsys, ray_private):
    """Two nodes of 1 CPU have 2 CPUs in all but hold no 2-CPU trial; 1-CPU trials run on both at once.
    (First in this file: it needs its own cluster before the module's local instance starts.)"""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        assert ray.cluster_resources()["CPU"] == 2
        with pytest.raises(UserError) as refused:
            check_trial_resources(2, 0, 1, bootstrap=tmp_path / "absent.yaml")
        assert str(refused.value) == ("a trial asks for 2 CPUs and 0 GPUs, but no node has 2 CPUs (2 nodes alive; the most on one node: "
                                      f"1 CPU, 0 GPUs), so it would wait for ever: lower --cpus-per-trial to 1 or less, {ADDRESS}")
        assert check_trial_resources(1, 0, 2, bootstrap=tmp_path / "absent.yaml") == 2
        assert check_trial_resources(1, 0, 3, bootstrap=tmp_path / "absent.yaml") == 2
        assert "reach concurrency 2, not --concurrency 3" in capsys.readouterr().err
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_tune_refuses_a_gpu_trial_on_a_machine_without_gpus_before_any_stage_trains(two_cpus, prepared_dir, tmp_path, capsys):
    argv = ["tune", "vae", "--gpus-per-trial", "1", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path / "run"),
            "--storage", str(tmp_path / "searches")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert error_lines(err) == [f"v2f-bench tune: error: a trial asks for 1 CPU and 1 GPU, but no node has 1 GPU {NO_GPU}: "
                                f"set --gpus-per-trial 0 to train on CPUs, {ADDRESS}"]
    assert not (tmp_path / "run").exists(), "the voice or judge stage started before the refusal"
    assert not (tmp_path / "searches").exists()


def test_compare_refuses_a_trial_of_more_cpus_than_any_node_has(two_cpus, prepared_dir, tmp_path, capsys):
    argv = ["compare", "--families", "vae", "--seeds", "1", "--cpus-per-trial", "3", "--prepared", str(prepared_dir),
            "--run-dir", str(tmp_path / "run"), "--storage", str(tmp_path / "searches")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert error_lines(err) == [f"v2f-bench compare: error: a trial asks for 3 CPUs and 0 GPUs, but no node has 3 CPUs {NO_GPU}: "
                                f"lower --cpus-per-trial to 2 or less, {ADDRESS}"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "searches").exists()


def test_a_concurrency_the_cluster_holds_only_in_part_is_a_warning_naming_the_one_reached(two_cpus, tmp_path, capsys):
    nowhere = tmp_path / "absent.yaml"
    assert check_trial_resources(1, 0, 4, bootstrap=nowhere) == 2
    assert capsys.readouterr().err.splitlines() == [
        "warning: the Ray cluster holds 2 trials of 1 CPU and 0 GPUs at once (1 node alive): the search will reach concurrency 2, not --concurrency 4"]
    assert check_trial_resources(1, 0, 2, bootstrap=nowhere) == 2
    assert check_trial_resources(0.5, 0, 4, bootstrap=nowhere) == 4
    assert capsys.readouterr().err == ""


def test_tune_warns_before_its_search_and_still_runs_it(two_cpus, prepared_dir, tmp_path, capsys):
    argv = ["tune", "judge", "--concurrency", "4", "--trials", "1", "--max-epochs", "1", "--prepared", str(prepared_dir),
            "--run-dir", str(tmp_path / "run"), "--storage", str(tmp_path / "searches")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "warning: the Ray cluster holds 2 trials of 1 CPU and 0 GPUs at once (1 node alive): " \
           "the search will reach concurrency 2, not --concurrency 4" in err.splitlines()
    assert "judge: 1 trials, 0 failed" in out


def test_on_an_autoscaling_clusters_head_the_node_types_it_may_add_count(two_cpus, capsys):
    """The shipped cluster.yaml (a 0-CPU head, up to 4 GPU workers, none started) as the launcher leaves it on the head."""
    capsys.readouterr()  # what the module's Ray workers forwarded late from an earlier test is not this check's
    assert check_trial_resources(1, 1, 4, bootstrap=CLUSTER_FILE) == 4
    assert warnings(capsys.readouterr().err) == []
    assert check_trial_resources(1, 1, 6, bootstrap=CLUSTER_FILE) == 4
    assert "(1 node alive, 4 more that" in capsys.readouterr().err
    with pytest.raises(UserError, match=r"no node has 2 GPUs .*lower --gpus-per-trial to 1 or less"):
        check_trial_resources(1, 2, 1, bootstrap=CLUSTER_FILE)


def test_paper_refuses_a_gpu_profile_before_its_first_search_and_keeps_the_previous_searches(
        two_cpus, small_raw, prepared_dir, tmp_path, capsys, monkeypatch):
    from v2f_bench.pipeline import PROFILES

    monkeypatch.setitem(PROFILES, "small-gpu", dataclasses.replace(PROFILES["small"], gpus_per_trial=1.0))
    run = tmp_path / "run"
    shutil.copytree(small_raw, run / "data")  # the small profile's synthetic set and its prepared dataset: reused, not redone
    shutil.copytree(prepared_dir, run / "prepared")
    earlier = run / "searches" / "voice" / "v2f_search.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text(json.dumps({"target": "voice"}))
    assert main(["paper", "--profile", "small-gpu", "--out", str(run), "--report-dir", str(tmp_path / "report")]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert error_lines(err) == [f"v2f-bench paper: error: a trial of --profile small-gpu asks for 1 CPU and 1 GPU, but no node has 1 GPU "
                                f"{NO_GPU}: choose --profile small, whose trials ask for less, {ADDRESS}"]
    assert json.loads(earlier.read_text()) == {"target": "voice"}
    assert not (run / "voice").exists() and not (run / "judge").exists() and not (tmp_path / "report").exists()
