"""Fault injection: a killed trial worker, a diverging family, a report run on a search still writing,
and output directories that cannot be written.

(Killing the search driver and resuming, and a diverging trial failing once without retries, are in
test_search.py and test_trainables.py.) Searches run through the installed ``v2f-bench`` console
script in a subprocess where a fault needs a process to hit, and in-process otherwise. Every wait is
bounded; a fault that could not be injected in time fails with a message instead of passing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.test_search import CLI, trial_results

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.usefixtures("ray_shared")]

SLOW_VOICE_SPACE = """\
target: voice
metric: val_clip_accuracy
mode: max
parameters:
  lr: {type: loguniform, low: 5.0e-4, high: 2.0e-3}
  batch_size: {type: fixed, value: 4}
  patience: {type: fixed, value: 100}
"""
"""Voice trials whose epochs take about half a second on the tiny data (batch 4) and never stop early
(patience beyond max_epochs): wide enough windows to kill a worker or read a search mid-run."""


def slow_voice_tune(prepared: Path, tmp_path: Path, storage: Path, trials: int, max_epochs: int, *extra: str) -> list[str]:
    space = tmp_path / "slow_voice.yaml"
    space.write_text(SLOW_VOICE_SPACE)
    return [CLI, "tune", "voice", "--space", str(space), "--prepared", str(prepared), "--run-dir", str(tmp_path / "run"),
            "--storage", str(storage), "--trials", str(trials), "--max-epochs", str(max_epochs), "--scheduler", "fifo",
            "--concurrency", "1", *extra]


def start(command: list[str], logs: Path) -> subprocess.Popen:
    """The command in its own session, its output in files (a pipe nobody reads would fill and stall Ray)."""
    with open(logs.with_suffix(".out"), "w") as stdout, open(logs.with_suffix(".err"), "w") as stderr:
        return subprocess.Popen(command, stdout=stdout, stderr=stderr, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def reported_so_far(experiment: Path) -> dict[str, list[dict]]:
    """Like ``trial_results`` but for files still being written: a line cut short is left out."""
    rows = {}
    for path in experiment.glob("*/result.json"):
        parsed = []
        for line in path.read_text().splitlines():
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pass
        rows[path.parent.name] = parsed
    return rows


def assert_one_line_error(result: subprocess.CompletedProcess, command: str, message: str) -> None:
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2, f"exit {result.returncode}; stderr ends: {err[-5:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert err and err[-1].startswith(f"v2f-bench {command}: error: ") and message in err[-1], err[-5:]


def report(runs: list[Path], out: Path, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, CLI, "report", *map(str, runs), "--out", str(out)], capture_output=True, text=True, timeout=180)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and modification time (to show that a failed command wrote nothing)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- a killed trial worker


KILL_EPOCHS = 6


def test_a_killed_trial_worker_is_retried_from_its_checkpoint_and_finishes(prepared_dir, tmp_path, ray_address):
    from v2f_bench.report.collect import collect

    storage = tmp_path / "searches"
    experiment = storage / "voice"
    search = start(slow_voice_tune(prepared_dir, tmp_path, storage, 1, KILL_EPOCHS, "--max-failures", "1", "--address", ray_address),
                   tmp_path / "search")
    try:
        victim = None
        deadline = time.time() + 180
        while victim is None and search.poll() is None and time.time() < deadline:
            rows = [row for trial in reported_so_far(experiment).values() for row in trial]
            if rows and rows[-1].get("checkpoint_dir_name"):
                victim = rows[-1]
                assert victim["epoch"] < KILL_EPOCHS - 1, (
                    f"the trial had reached epoch {victim['epoch']} of {KILL_EPOCHS} before it could be killed; make its epochs slower")
                os.kill(victim["pid"], signal.SIGKILL)
            time.sleep(0.05)
        assert victim is not None, f"no checkpointed epoch within the time limit (search exit status {search.poll()})"
        assert search.wait(timeout=240) == 0, (tmp_path / "search.err").read_text()[-3000:]
    finally:
        stop(search)

    (rows,) = trial_results(experiment).values()
    epochs = [row["epoch"] for row in rows]
    assert epochs == list(range(1, KILL_EPOCHS + 1)), f"every epoch reported once, the last included: {epochs}"
    retry = next(i for i, row in enumerate(rows) if row["pid"] != victim["pid"])
    assert retry > 0 and all(row["pid"] == victim["pid"] for row in rows[:retry])
    assert all(row["pid"] == rows[retry]["pid"] for row in rows[retry:]), "one retry, in one new worker"
    assert rows[retry]["epoch"] == rows[retry - 1]["epoch"] + 1 > 1, "the retry resumed after the last checkpoint, not from epoch 1"
    assert rows[retry]["iterations_since_restore"] == 1 and rows[retry]["training_iteration"] == rows[retry]["epoch"]
    (trial,) = collect([str(experiment)]).trials.itertuples()
    assert (trial.status, trial.failures, trial.epochs) == ("completed", 1, KILL_EPOCHS) and pd.isna(trial.error), "the report counts it finished"


# ----------------------------------------------------------------------------- a diverging family, and the report


@pytest.fixture(scope="module")
def diverging_experiment(diverging_search) -> Path:
    """The session's finished ``tiny-linear`` search in which a planted NaN failed some trials (``conftest.diverging_search``)."""
    return diverging_search.experiment


@pytest.fixture(scope="module")
def diverging_report(diverging_experiment, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """``v2f-bench report`` on the diverging search: (its output directory, the finished command)."""
    out = tmp_path_factory.mktemp("diverging_report") / "report"
    return out, report([diverging_experiment], out)


def test_the_report_goes_on_past_a_diverged_family_and_lists_the_failed_trials_with_their_reason(diverging_experiment, diverging_report):
    out, result = diverging_report
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and result.stdout.strip().splitlines()[-1].startswith(f"report: {out / 'index.html'} (4 trials)")
    for name in ("index.html", "report.md", "table1.md", "table2.csv", "table_identity.tex", "trials.csv", "epochs.csv"):
        assert (out / name).is_file(), name

    trials = pd.read_csv(out / "trials.csv")
    failed, finished = trials[trials["status"] == "failed"], trials[trials["status"] != "failed"]
    assert len(failed) == len(list(diverging_experiment.glob("*/diverged.txt"))) and len(finished) == 4 - len(failed)
    assert failed["diverged"].all() and failed["error"].str.contains("non-finite").all()
    assert failed["error"].str.contains("diverged").all()
    assert trials["status"].eq("failed").equals(trials["config/explode_at"].eq(2)), "exactly the planted trials failed; none passed on a retry"
    assert (finished["status"] == "completed").all() and finished["error"].isna().all()

    counts = rf"\|\s*tiny-linear\s*\|\s*1\s*\|\s*4\s*\|\s*{len(finished)}\s*\|\s*0\s*\|\s*{len(failed)}\s*\|\s*0\s*\|"
    for name in ("table1.md", "table2.md", "table_identity.md"):  # the counts under each table: seeds, trials, completed, stopped, failed, unfinished
        assert re.search(counts, (out / name).read_text()), name
    page = (out / "index.html").read_text()
    assert page.count("<td>tiny-linear</td>") >= 3 and "Trials and budget per family" in page


# ----------------------------------------------------------------------------- a report on a search still writing


def test_a_report_on_a_half_written_experiment_uses_the_complete_rows_and_names_what_it_skipped(diverging_experiment, tmp_path):
    experiment = Path(shutil.copytree(diverging_experiment, tmp_path / "searches" / "tiny-linear"))
    intact = trial_results(experiment)
    good = sorted(name for name in intact if not (experiment / name / "diverged.txt").exists())
    cut = experiment / good[0] / "result.json"  # the last epoch's line half-written
    text = cut.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    cut.write_text(text[: len(text) - len(last) // 2 - 1])
    others = [name for name in sorted(intact, key=lambda n: n not in good) if intact[name] and name != good[0]]
    assert others, "the fixture's search needs two trials with results"
    other = others[0]
    (experiment / other / "params.json").unlink()  # a params file not there (yet)
    checkpoints = sorted((experiment / other).glob("checkpoint_*"))
    assert len(checkpoints) >= 2, "a finished trial keeps two checkpoints"
    for item in checkpoints[-1].iterdir():  # its newest checkpoint still being copied: part of the state, no test metrics
        item.unlink()
    (checkpoints[-1] / "state.pt").write_bytes((checkpoints[0] / "state.pt").read_bytes()[:100])
    newest = max(experiment.glob("experiment_state-*.json"))
    state = json.loads(newest.read_text())
    starting = json.loads(state["trial_data"][0][0]) | {"trial_id": "feed0000", "status": "PENDING",
                                                        "relative_logdir": "train_generator_feed0000_5_2026-01-01_00-00-00"}
    state["trial_data"].append([json.dumps(starting), state["trial_data"][0][1]])
    newest.write_text(json.dumps(state))
    (experiment / starting["relative_logdir"]).mkdir()  # its directory exists, nothing in it yet
    (experiment / "train_generator_feed0001_6_2026-01-01_00-00-01").mkdir()  # one the state does not list yet

    out = tmp_path / "report"
    result = report([experiment], out)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert any(f"{good[0]}/result.json: line {len(intact[good[0]])} is incomplete" in n for n in notes), notes
    assert any("train_generator_feed0000_5" in n and "no results yet" in n for n in notes), notes
    assert any("train_generator_feed0001_6" in n and "no results yet" in n for n in notes), notes
    assert "(4 trials)" in result.stdout.splitlines()[-1]

    ids = {"trial_id": str}  # Ray's 8-hex-digit trial ids can be all digits: read them as text
    trials = pd.read_csv(out / "trials.csv", dtype=ids).set_index("trial_id")
    epochs = pd.read_csv(out / "epochs.csv", dtype=ids)
    cut_id = intact[good[0]][0]["trial_id"]
    complete = intact[good[0]][:-1]
    assert trials.loc[cut_id, "epochs"] == len(complete) and (epochs["trial_id"] == cut_id).sum() == len(complete)
    assert trials.loc[cut_id, "best_val"] == pytest.approx(max(r["val_verification_accuracy"] for r in complete))
    assert len(epochs) == sum(len(rows) for rows in intact.values()) - 1, "only the cut line is lost"
    other_id = intact[other][0]["trial_id"]
    assert trials.loc[other_id, "config/lr"] == pytest.approx(intact[other][0]["config"]["lr"]), "config from Ray's state instead"
    assert trials.loc[other_id, "checkpoint"] == str(checkpoints[0]), "test values from the last complete checkpoint"
    assert trials.loc[other_id, "test_epoch"] == 1 and pd.notna(trials.loc[other_id, "test/verification_accuracy"])
    assert (out / "table1.md").is_file() and (out / "index.html").is_file()


LIVE_EPOCHS = 4


def test_a_report_run_while_a_search_is_writing_reads_what_is_there_and_the_search_goes_on(prepared_dir, tmp_path, capsys, ray_address):
    """The report runs on the search's storage again and again (in this process, through the CLI's ``main``, so that
    it reads several times a second) from the moment the search has written its record until the search exits."""
    from v2f_bench.cli import main

    storage = tmp_path / "searches"
    experiment = storage / "voice"
    search = start(slow_voice_tune(prepared_dir, tmp_path, storage, 3, LIVE_EPOCHS, "--address", ray_address), tmp_path / "search")
    runs = []
    try:
        deadline = time.time() + 200
        while search.poll() is None and not (experiment / "v2f_search.json").is_file() and time.time() < deadline:
            time.sleep(0.2)
        while search.poll() is None and time.time() < deadline:
            had_results = any(reported_so_far(experiment).values())
            out = tmp_path / "report"
            shutil.rmtree(out, ignore_errors=True)
            code = main(["report", str(storage), "--out", str(out)])
            captured = capsys.readouterr()
            trials = pd.read_csv(out / "trials.csv") if code == 0 else None
            runs.append((had_results, search.poll() is None, code, captured, trials))
            time.sleep(0.2)
        assert search.wait(timeout=240) == 0, (tmp_path / "search.err").read_text()[-3000:]
    finally:
        stop(search)

    for _, _, code, captured, trials in runs:
        if code == 2:
            err = captured.err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"v2f-bench report: error: nothing usable in {storage}: "), err
            continue
        assert code == 0, captured.err
        assert captured.out.strip().splitlines()[-1].startswith("report: ")
        assert set(trials["status"]) <= {"completed", "unfinished"} and trials["epochs"].between(1, LIVE_EPOCHS).all()
    during = [trials for had_results, running, code, _, trials in runs if had_results and running]
    assert len(during) >= 3, f"only {len(during)} reports ran between the first result and the end of the search; make the trials slower"
    assert all(trials is not None for trials in during), "once a trial has reported, the report has something to show"
    assert any((trials["status"] == "unfinished").any() for trials in during), "a trial still running is shown as unfinished"
    rows = trial_results(experiment)
    assert len(rows) == 3 and all([r["epoch"] for r in trial] == list(range(1, LIVE_EPOCHS + 1)) for trial in rows.values())


# ----------------------------------------------------------------------------- output that cannot be written


UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
"""As root, a command run under this prefix is held to file modes like any user (root keeps its uid and files)."""


def unwritable(folder: Path, how: str) -> tuple[Path, list[str]]:
    """(a location under ``folder`` that cannot be written, a prefix for the command that must fail to write there).

    ``read-only-dir``: ``folder`` made read-only (as root, the command runs without the capabilities that
    override file modes, or the case is skipped where that cannot be done); ``under-a-file``: a path below
    a regular file.
    """
    if how == "read-only-dir":
        folder.chmod(0o500)
        prefix = []
        if os.geteuid() == 0:
            if shutil.which(UNPRIVILEGED[0]) is None:
                pytest.skip("running as root without setpriv: a read-only mode does not stop root's writes")
            prefix = UNPRIVILEGED
        if subprocess.run([*prefix, "test", "-w", str(folder)]).returncode == 0:
            pytest.skip("cannot make a directory unwritable for this user here (the under-a-file case stands in)")
        return folder, prefix
    blocker = folder / "a-file"
    blocker.write_text("written before; must stay as it is\n")
    return blocker, []


@pytest.mark.parametrize("how", ["read-only-dir", "under-a-file"])
def test_tune_into_an_unwritable_storage_fails_in_one_line_and_damages_nothing(prepared_dir, tmp_path, how):
    storage = tmp_path / "searches"
    earlier = storage / "voice-earlier"
    earlier.mkdir(parents=True)
    (earlier / "v2f_search.json").write_text(json.dumps({"target": "voice", "written": "before"}))
    try:
        target, prefix = unwritable(storage, how)
        before = snapshot(storage)
        result = subprocess.run([*prefix, *slow_voice_tune(prepared_dir, tmp_path, target, 1, 1)], capture_output=True, text=True, timeout=240)
    finally:
        storage.chmod(0o755)
    assert_one_line_error(result, "tune", f"--storage {target}: cannot write the search into {target / 'voice'}")
    assert snapshot(storage) == before, "the storage holds exactly what it held before"


@pytest.mark.parametrize("how", ["read-only-dir", "under-a-file", "disk-full-midway"])
def test_report_into_an_unwritable_out_fails_in_one_line_and_keeps_the_previous_report(diverging_experiment, diverging_report, tmp_path, how):
    out = Path(shutil.copytree(diverging_report[0], tmp_path / "report"))
    try:
        if how == "disk-full-midway":
            target, prefix = out, size_limited(midway_limit(out))
        else:
            folder, prefix = unwritable(out, how)
            target = folder / "report" if how == "under-a-file" else folder
        before = snapshot(out)
        result = report([diverging_experiment], target, prefix)
    finally:
        out.chmod(0o755)
    assert_one_line_error(result, "report", f"--out {target}: cannot write")
    assert snapshot(out) == before, "the previous report is left whole: no file of it rewritten, none added"
    if how == "disk-full-midway":
        fresh = tmp_path / "fresh"
        result = report([diverging_experiment], fresh, prefix)
        assert_one_line_error(result, "report", f"--out {fresh}: cannot write the report (File too large); nothing in {fresh} was changed")
        assert not list(fresh.rglob("*")), "nothing left behind that looks like a report"


def midway_limit(previous: Path) -> int:
    """A file size the report's first file (epochs.csv) fits in and a later one does not: the disk fills up part-way."""
    limit = 1 + (previous / "epochs.csv").stat().st_size
    assert any(p.stat().st_size > limit for p in previous.iterdir()), "some later file must not fit"
    return limit


def size_limited(size: int) -> list[str]:
    """A prefix that runs a command with every file write beyond ``size`` bytes failing with EFBIG, like a disk
    filling up part-way (unlike a read-only mode this works as root too). SIGXFSZ is ignored so that the write
    fails instead of killing the process; both settings pass through ``exec``."""
    code = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size}, {size})); os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", code]
