"""The experiment store: locations on a path or a URI, Ray's state format, and searches on a real S3 server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from v2f_bench.artifacts import OPTUNA_STUDY, SEARCH_RECORD, STAGES_FOLDER, UNRECORDED_FOLDER
from v2f_bench.cli import main
from v2f_bench.errors import UserError
from v2f_bench.install_check import read_lock
from v2f_bench.storage import Location, read_trial_states

pytestmark = pytest.mark.usefixtures("ray_shared")

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("v2f-bench"))
FIGURES = {"learning_curves.png", "expected_max_trials.png", "expected_max_time.png", "tsne_voice.png", "tsne_faces.png",
           "tau_curve.png", "faces_grid.png"}
"""Every figure a report of generator searches with stage artifacts draws."""


def test_a_local_location_is_absolute_and_round_trips_files(tmp_path):
    loc = Location.parse(tmp_path / "exp")
    assert loc.is_local and str(loc) == str((tmp_path / "exp").resolve())
    assert loc.kind() == "missing" and loc.read_json("x.json") is None and loc.listing() == {}
    loc.write_json("x.json", {"a": 1})
    loc.child("stages").write_artifacts({"e.npy": np.arange(3), "j.json": {"b": 2}})
    assert loc.read_json("x.json") == {"a": 1} and loc.kind() == "dir"
    assert loc.child("stages").read_array("e.npy").tolist() == [0, 1, 2] and loc.child("stages").read_json("j.json") == {"b": 2}
    assert loc.listing() == {"x.json": False, "stages": True}
    loc.remove("stages")
    assert loc.listing() == {"x.json": False}


def test_a_uri_keeps_its_query_on_every_child(s3_storage):
    root = Location.parse(s3_storage)
    trial = root.child("vae").child("trial_1")
    assert str(trial) == s3_storage.replace("/runs?", "/runs/vae/trial_1?") and not trial.is_local
    assert trial.parent.parent == root
    trial.write_bytes("result.json", b"{}\n")
    assert Location.parse(str(trial)).read_text("result.json") == "{}\n"


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_folder_moves_whole_on_a_local_path_and_on_a_bucket(where, tmp_path, request):
    root = Location.parse(tmp_path / "exp" if where == "local" else request.getfixturevalue("s3_storage")).child("move")
    trial = root.child("trial_1")
    trial.write_bytes("result.json", b"{}\n")
    trial.child("checkpoint_000000").write_bytes("state.pt", b"x" * 10)
    root.move("trial_1", root.child(".aside").child("trial_1"))
    assert "trial_1" not in root.listing()
    moved = root.child(".aside").child("trial_1")
    assert moved.read_text("result.json") == "{}\n" and moved.child("checkpoint_000000").read_bytes("state.pt") == b"x" * 10


def test_an_unusable_uri_is_one_line():
    with pytest.raises(UserError, match="cannot open that storage URI") as caught:
        Location.parse("nosuchscheme://bucket/x")
    assert "\n" not in str(caught.value)


def test_rays_experiment_state_is_read_without_unpickling(tmp_path, ray_shared):
    """Pinned to the locked Ray: if an upgrade changes the state format, this fails before the report does."""
    import ray
    from ray import tune

    assert ray.__version__ == read_lock(ROOT / "requirements.lock")["ray"], "storage.read_trial_states knows Ray 2.60's format only"

    def trainable(config):
        tune.report({"score": config["x"]})

    tuner = tune.Tuner(trainable, param_space={"x": tune.grid_search([1, 2])},
                       run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path), verbose=0))
    tuner.fit()
    loc = Location.parse(tmp_path / "exp")
    problems: list[str] = []
    states = read_trial_states(loc, loc.listing(), problems)
    assert problems == []
    assert sorted(s["config"]["x"] for s in states.values()) == [1, 2]
    assert {s["status"] for s in states.values()} == {"TERMINATED"}
    assert all(name in loc.listing() for name in states), "keys are the trial directory names"


# ----------------------------------------------------------------------------- a real S3-compatible server


def _download(source: Location, target: Path) -> None:
    """Copy a bucket folder to a local one, as a user would to read it offline."""
    from pyarrow import fs

    fs.copy_files(source.path, str(target), source_filesystem=source.fs, destination_filesystem=fs.LocalFileSystem())


@pytest.mark.slow
def test_a_search_on_s3_reports_every_figure_the_local_report_has(prepared_dir, staged_run_dir, s3_storage, tmp_path):
    code = main(["tune", "vae", "--prepared", str(prepared_dir), "--run-dir", str(staged_run_dir), "--trials", "2",
                 "--max-epochs", "1", "--storage", s3_storage, "--judge-epochs", "1"])
    assert code == 0
    exp = Location.parse(s3_storage).child("vae")
    names = exp.listing()
    assert {SEARCH_RECORD, STAGES_FOLDER, OPTUNA_STUDY} <= set(names), names
    assert main(["report", str(exp), "--out", str(tmp_path / "from_s3")]) == 0
    from_s3 = {p.name for p in (tmp_path / "from_s3").glob("*.png")}
    _download(exp, tmp_path / "local" / "vae")
    assert main(["report", str(tmp_path / "local" / "vae"), "--out", str(tmp_path / "from_local")]) == 0
    from_local = {p.name for p in (tmp_path / "from_local").glob("*.png")}
    assert FIGURES <= from_local
    assert from_s3 == from_local
    assert (tmp_path / "from_s3" / "table1.csv").read_text() == (tmp_path / "from_local" / "table1.csv").read_text().replace(
        str(tmp_path / "local" / "vae"), str(exp))


def _finished(exp: Location) -> set[str]:
    """Trial ids Ray's snapshot in the bucket records as TERMINATED."""
    states = read_trial_states(exp, exp.listing(), []) or {}
    return {s["trial_id"] for s in states.values() if s["status"] == "TERMINATED"}


def _results(exp: Location) -> dict[str, str]:
    return {name: exp.child(name).read_text("result.json") for name, is_dir in exp.listing().items()
            if is_dir and exp.child(name).read_text("result.json")}


@pytest.mark.slow
def test_a_search_on_s3_killed_mid_run_resumes_from_the_bucket_keeping_finished_trials(prepared_dir, s3_storage, tmp_path, ray_address):
    """The cluster case: the drivers join a running Ray instance (the session's, as `--address` joins a cluster's
    head), the first is killed mid-search, and a second resumes from the bucket alone.
    (tests/test_search.py kills a driver that started its own local Ray, the laptop case.)"""
    exp = Location.parse(s3_storage).child("voice")
    command = [CLI, "tune", "voice", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path), "--trials", "4", "--max-epochs", "2",
               "--concurrency", "1", "--scheduler", "fifo", "--storage", s3_storage, "--address", ray_address]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())
    deadline = time.time() + 300
    while time.time() < deadline and not _finished(exp):
        time.sleep(1.0)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = _finished(exp)
    assert finished, "no trial finished before the time limit"
    existing = _results(exp)
    before = {name: text for name, text in existing.items() if any(f"\"{tid}\"" in text for tid in finished)}
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=400, env=os.environ.copy())
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _results(exp)
    for name, text in before.items():
        assert after[name] == text, f"finished trial {name} was rerun"
    assert set(after) == set(read_trial_states(exp, exp.listing(), [])), "the results hold the trials Ray records, and no other"
    # A trial started after Ray's last snapshot reached the bucket is set aside, not counted (tests/test_search.py).
    assert set(_results(exp.child(UNRECORDED_FOLDER))) | set(after) >= set(existing), "a trial that existed at the kill was lost"
    assert 3 <= len(after) <= 4
    assert exp.read_bytes(OPTUNA_STUDY), "the study was uploaded into the bucket"
