"""`v2f-bench status`: counts of a live search, of the finished one, and of a half-written copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from v2f_bench.cli import main
from v2f_bench.status import status

pytestmark = pytest.mark.usefixtures("ray_shared")

CLI = str(Path(sys.executable).with_name("v2f-bench"))


def _counts(search) -> tuple[int, int, int, int]:
    return search.done, search.running, search.failed, search.pending


@pytest.mark.slow
def test_status_of_a_live_search_then_of_the_finished_one_and_of_a_half_written_copy(prepared_dir, tmp_path, capsys, ray_address):
    experiment = tmp_path / "searches" / "voice"
    command = [CLI, "tune", "voice", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path), "--trials", "3", "--max-epochs", "2",
               "--concurrency", "1", "--scheduler", "fifo", "--storage", str(tmp_path / "searches"), "--address", ray_address]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_running = None
    deadline = time.time() + 400
    while driver.poll() is None and time.time() < deadline:
        if (experiment / "v2f_search.json").is_file():
            searches, _ = status([str(experiment)])
            if searches and searches[0].running == 1:
                seen_running = searches[0]
                break
        time.sleep(0.5)
    assert seen_running is not None, "never saw the search with a running trial"
    assert sum(_counts(seen_running)) == 3 and seen_running.failed == 0, seen_running
    assert "1 running" in seen_running.line()
    assert driver.wait(timeout=400) == 0

    assert main(["status", str(experiment)]) == 0
    out = capsys.readouterr().out
    assert "3 done, 0 running, 0 failed, 0 pending" in out and "3 of 3 trials started" in out and "finished" in out

    copy = tmp_path / "copy" / "voice"
    shutil.copytree(experiment, copy)
    for state in copy.glob("experiment_state-*.json"):
        state.unlink()
    trial = sorted(p for p in copy.iterdir() if (p / "result.json").is_file())[-1]
    lines = (trial / "result.json").read_text().splitlines()
    (trial / "result.json").write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2] if len(lines) > 1 else "")
    searches, problems = status([str(copy)])
    half = searches[0]
    assert half.done + half.unfinished + half.failed == 3 and half.pending == 0, half
    assert half.unfinished >= 1, "the trial whose last epoch is cut off is not counted as done"
    assert any("incomplete" in p or "no results yet" in p for p in problems)


def test_status_mistakes_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["status", str(tmp_path / "empty")]) == 2
    assert main(["status", str(tmp_path / "empty"), "--watch", "0"]) == 2
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("v2f-bench status: error:") for line in err)
