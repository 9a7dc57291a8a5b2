"""The command line: each command end to end on tiny data, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from v2f_bench.cli import main

CLI = str(Path(sys.executable).with_name("v2f-bench"))


def test_synth_then_prepare_through_the_installed_console_script(tmp_path):
    synth = subprocess.run([CLI, "synth", str(tmp_path / "raw"), "--small"], capture_output=True, text=True, timeout=300)
    assert synth.returncode == 0, synth.stderr
    assert "wrote 4 identities" in synth.stdout and "synth identities" in synth.stderr
    prep = subprocess.run(
        [CLI, "prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "ds")], capture_output=True, text=True, timeout=300
    )
    assert prep.returncode == 0, prep.stderr
    assert "prepared 4 identities" in prep.stdout and "skipped 0 items" in prep.stdout
    assert "voice features" in prep.stderr
    assert json.loads((tmp_path / "ds" / "manifest.json").read_text())["summary"]["identities"] == 4


def check_rendered_page(page: Path, screenshot: Path) -> None:
    """The report page opened from disk in headless Chromium shows its tables and images (skipped without Chromium)."""
    from v2f_bench.report.browser import check_page, find_chromium
    from v2f_bench.errors import UserError

    try:
        find_chromium()
    except UserError as missing:
        pytest.skip(str(missing))
    rendered = check_page(page, screenshot, min_tables=3, min_images=4)
    assert rendered["tables"] >= 3 and rendered["images"] >= 4


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole study: voice search, judge, 6 generator searches and 4 reference fits, report
def test_paper_small_profile_runs_the_whole_study_into_a_report(tmp_path, capsys, ray_private):
    from v2f_bench.pipeline import PROFILES, ensure_synth

    argv = ["paper", "--profile", "small", "--out", str(tmp_path / "run"), "--report-dir", str(tmp_path / "reports")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    assert "synth: 4 identities" in out and "prepared 4 identities" in out and "report:" in out
    assert "voice: paper-text, 2 trial(s)" in out and "judge: trained, tau = " in out and "compare: vae, cgan, rcgan, mean-face, nearest-identity x 2 seeds" in out
    assert "nearest-identity-s1: 1 done, 0 running, 0 failed" in err, "each search ends on its progress line"
    for ray_output in ("Trial status", "Configuration for experiment", "Checkpoint successfully created", "tensorboard", "Traceback"):
        assert ray_output not in out + err, ray_output
    for name in ("index.html", "report.md", "table1.md", "table2.tex", "table_identity.csv", "trials.csv", "budget.csv", "run.json",
                 "claims.md", "paired.csv", "compute.csv", "answer.md", "ladder.md", "ladder.png", "claims_by_rung.md"):
        assert (tmp_path / "reports" / name).is_file(), name
    check_rendered_page(tmp_path / "reports" / "index.html", tmp_path / "screenshot.png")
    run = json.loads((tmp_path / "reports" / "run.json").read_text())
    assert set(run["timings_s"]) == {"synth", "prepare", "voice search", "judge", "compare", "report", "total"}
    assert len(run["code"]["lock_sha256"]) == 64 and (run["code"]["commit"] is None or len(run["code"]["commit"]) == 40)
    assert run["machine"]["cpu_model"] and run["machine"]["cpu_capability"], "run.json names what decides the float paths"
    with np.load(tmp_path / "reports" / "samples.npz", allow_pickle=False) as samples:
        pairs = {name.rsplit("__", 1)[0] for name in samples.files}
        assert pairs == {f"{family}__seed{seed}" for family in ("vae", "cgan", "rcgan", "mean-face", "nearest-identity") for seed in (0, 1)}
        generated, targets, labels = (samples[f"rcgan__seed1__{part}"] for part in ("generated", "targets", "labels"))
        assert generated.dtype == np.uint8 and generated.shape == targets.shape == (len(labels), 64, 64, 3) and len(set(labels)) == len(labels)
    compare = json.loads((tmp_path / "run" / "searches" / "compare" / "compare.json").read_text())
    budget = compare["budget"]["compute"]
    for search in compare["searches"]:
        if search["family"] in ("mean-face", "nearest-identity"):
            assert search["trials"] == 1 and search["spent"]["flops"] < 1e-3 * budget["amount"], "a reference is fitted once"
        else:
            assert search["spent"]["flops"] >= budget["amount"] and search["spent"]["stopped_by_budget"], "every family spends its whole budget"
    trial_budget = {"budget_flops": budget["amount"], "budget_counts": "train", "rungs": 2}
    assert compare["fixed"]["rcgan"] == {"g_channels": 16, "d_channels": 16, "precision": "fp32", **trial_budget}
    assert compare["fixed"]["vae"] == {"precision": "fp32", **trial_budget}
    trials = pd.read_csv(tmp_path / "reports" / "trials.csv")
    generators = trials[trials["target"].isin(["vae", "cgan", "rcgan"])]
    assert set(generators["status"]) == {"completed"} and set(generators["epochs"]) == {2}, "two rungs, each one report"
    references = trials[trials["target"].isin(["mean-face", "nearest-identity"])]
    assert len(references) == 4 and set(references["reference"]) == {1} and set(references["epochs"]) == {2}, "the one fit, at both rungs"
    assert set(generators["reference"]) == {0}
    ladder = pd.read_csv(tmp_path / "reports" / "ladder.csv")
    assert sorted(set(ladder["rung"])) == [1, 2] and set(ladder["n"]) == {2}
    answer = (tmp_path / "reports" / "answer.md").read_text()
    assert answer.startswith("- ") and "References (fitted once, not trained): mean-face Table I" in answer and "Against nearest-identity on" in answer
    ensure_synth(tmp_path / "run" / "data", PROFILES["small"], 0)
    assert "synth: reusing" in capsys.readouterr().out


def test_prepare_with_explicit_dataset_paths_and_a_preset(small_raw, tmp_path, capsys):
    code = main(["prepare", "--voices", str(small_raw / "voxceleb2"), "--faces", str(small_raw / "vggface2"),
                 "--out", str(tmp_path / "ds"), "--identities", "agarwal9"])
    assert code == 0
    out = capsys.readouterr().out
    assert "prepared 4 identities" in out
    assert "skipped 5 items (5 identity)" in out
    assert "id08599: not in vox2_meta.csv" in out


def test_prepare_counts_prints_and_lists_a_voice_folder_without_a_meta_row(raw_copy, tmp_path, capsys):
    """Issue 12: with a meta row gone, a quarter of the clips vanished while prepare printed 'skipped 0 items'."""
    meta = raw_copy / "voxceleb2" / "vox2_meta.csv"
    rows = meta.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    meta.write_text("".join(row for row in rows if not row.startswith("id04517")), encoding="utf-8-sig")
    assert main(["prepare", str(raw_copy), "--out", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "prepared 3 identities: 15 clips" in out
    assert "skipped 23 items (5 clip, 2 identity, 16 photo)" in out
    assert "identity id04517: folder dev/aac/id04517 has no row in vox2_meta.csv" in out
    assert re.search(r"clip +dev/aac/id04517/\S+ and 4 more: in folder dev/aac/id04517, which has no row in vox2_meta.csv", out)
    assert re.search(r"photo +train/n004516/\S+ and 15 more: its face id n004516 is in no row of vox2_meta.csv", out)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    clips = sorted(p.relative_to(raw_copy / "voxceleb2").as_posix() for p in (raw_copy / "voxceleb2" / "dev" / "aac" / "id04517").rglob("*.*"))
    assert [s["item"] for s in manifest["skipped"] if s["kind"] == "clip"] == clips


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["prepare", "{tmp}/missing", "--out", "{tmp}/ds"], "data root not found", id="missing-root"),
        pytest.param(["prepare", "{tmp}", "--out", "{tmp}/ds"], "no voice dataset inside", id="root-without-datasets"),
        pytest.param(["prepare", "{raw}", "--out", "{tmp}/ds", "--split-fractions", "0.5,0.6"], "--split-fractions", id="bad-fractions"),
        pytest.param(["prepare", "{raw}", "--out", "{tmp}/ds", "--identities", "Brad Pitt"], "neither a preset", id="bad-identity-list"),
        pytest.param(["prepare", "{raw}", "--out", "{tmp}/ds", "--min-clips", "0"], "--min-clips", id="bad-minimum"),
        pytest.param(["prepare", "--voices", "{raw}/voxceleb2", "--faces", "{raw}/voxceleb2", "--out", "{tmp}/ds"], "not a VGGFace tree", id="voices-given-as-faces"),
        pytest.param(["prepare", "{raw}", "--out", "{raw}/voxceleb2/vox2_meta.csv"], "not a directory", id="out-is-a-file"),
        pytest.param(["synth", "{raw}"], "not empty", id="synth-into-existing-data"),
        pytest.param(["synth", "{tmp}/new", "--identities", "1"], "--identities", id="synth-one-identity"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(small_raw, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, raw=small_raw) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_vox1_tree_with_a_vggface2_tree_is_refused_because_their_ids_cannot_join(small_raw, tmp_path, capsys):
    (tmp_path / "vox1" / "wav").mkdir(parents=True)
    assert main(["prepare", "--voices", str(tmp_path / "vox1"), "--faces", str(small_raw / "vggface2"), "--out", str(tmp_path / "ds")]) == 2
    assert "voxceleb1" in capsys.readouterr().err


def test_a_bad_argument_is_reported_by_argparse_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", "--out", "x", "--protocol", "random"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cluster_validate_accepts_the_shipped_config_and_lists_problems_of_a_broken_one(tmp_path, capsys):
    shipped = Path(__file__).resolve().parents[1] / "cluster.yaml"
    assert main(["cluster", "validate", str(shipped)]) == 0
    assert "valid Ray cluster config" in capsys.readouterr().out
    broken = tmp_path / "cluster.yaml"
    broken.write_text(shipped.read_text().replace("max_workers: 4", "max_workers: four", 1))
    assert main(["cluster", "validate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "max_workers" in err and "problem(s) found by Ray's schema validation" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "setup, message",
    [
        pytest.param(lambda tmp: tmp / "missing", "no such directory", id="missing-path"),
        pytest.param(lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "nothing usable", id="empty-directory"),
    ],
)
def test_report_on_nothing_usable_is_one_line_and_exit_2(tmp_path, capsys, setup, message):
    run = setup(tmp_path)
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
