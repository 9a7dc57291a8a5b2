"""The ``unseen`` protocol end to end on tiny data: who trains, validates and is tested on which identities.

Six synthetic identities prepared identity-disjoint at 0.34/0.33/0.33 (2 train, 2 val, 2 test).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from v2f_bench.cli import main
from v2f_bench.data.prepared import PrepareConfig, load_prepared, prepare
from v2f_bench.data.sources import resolve_sources
from v2f_bench.data.synth import SMALL, SynthConfig, write_synth
from v2f_bench.pipeline import PROFILES
from v2f_bench.voice_encoders.speaker_classifier import voice_data

pytestmark = pytest.mark.usefixtures("ray_shared")

FRACTIONS = (0.34, 0.33, 0.33)


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    root = tmp_path_factory.mktemp("unseen")
    write_synth(root / "raw", SynthConfig(**{**SMALL, "identities": 6}))
    prepare(resolve_sources(root / "raw", None, None), root / "prepared", PrepareConfig(protocol="unseen", fractions=FRACTIONS))
    return load_prepared(root / "prepared")


def test_sf2f_splits_the_prepared_identities_by_their_meta_row_and_wen_refuses_vggface2_data(tmp_path, capsys):
    """SF2F's rule on synthetic VoxCeleb2 data (20 identities on disk, rows 8/18 test and 9/19 val); Wen's rule needs
    VGGFace1 names, which VGGFace2-layout data lacks, so it is a one-line error naming the fix."""
    write_synth(tmp_path / "raw", SynthConfig(**{**SMALL, "identities": 20, "clips_per_identity": 3, "photos_per_identity": 4}))
    out = tmp_path / "prepared"
    assert main(["prepare", str(tmp_path / "raw"), "--out", str(out), "--protocol", "sf2f"]) == 0
    rows = load_prepared(out).manifest["identities"]
    assert all(isinstance(row["meta_row"], int) for row in rows)
    assert {row["split"] for row in rows if row["meta_row"] % 10 == 8} == {"test"}
    assert {row["split"] for row in rows if row["meta_row"] % 10 == 9} == {"val"}
    assert {row["split"] for row in rows if row["meta_row"] % 10 < 8} == {"train"}
    assert sum(row["split"] == "test" for row in rows) >= 2
    capsys.readouterr()
    assert main(["prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "wen"), "--protocol", "wen"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--protocol wen" in error and "VGGFace1" in error
    assert not (tmp_path / "wen").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        pytest.param(["--gallery-size", "1"], "--gallery-size 1: must be an integer of at least 2", id="gallery-of-one"),
        pytest.param(["--gallery-draws", "0"], "--gallery-draws 0: must be an integer of at least 1", id="no-draws"),
    ],
)
def test_bad_gallery_settings_get_one_line_before_any_stage_runs(tmp_path, capsys, flags, message):
    argv = ["train", "rcgan", "--prepared", str(tmp_path / "absent"), "--run-dir", str(tmp_path / "run"), *flags]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and message in error
    assert not (tmp_path / "run").exists()


def _identity_split(prepared) -> dict[int, str]:
    return {row["label"]: row["split"] for row in prepared.manifest["identities"]}


def test_the_voice_classifier_validates_and_tests_on_held_out_clips_of_its_train_identities(unseen):
    """Today's failure: the voice classifier's val windows were windows of the val identities, which it never trained on."""
    data = voice_data(unseen)
    split_of = _identity_split(unseen)
    train_labels = {label for label, split in split_of.items() if split == "train"}
    for name in ("train", "val", "test"):
        assert {int(label) for label in data["labels"][data["split"] == name]} == train_labels, name
    clips = data["clip"]
    assert not set(clips[data["split"] == "train"]) & set(clips[data["split"] == "val"])
    assert not set(clips[data["split"] == "train"]) & set(clips[data["split"] == "test"])
    unseen_windows = data["split"] == "unseen"
    assert {split_of[int(label)] for label in data["labels"][unseen_windows]} == {"val", "test"}


def test_generators_and_the_judge_see_the_identity_split(unseen):
    """Generators train on the train identities' windows; the judge trains on the train identities' photos, calibrates
    tau on the val identities' photos and is verified on the test identities' photos (judge_stage reads photo_split)."""
    split_of = _identity_split(unseen)
    window_label, window_split = (np.asarray(unseen.arrays[f"window_{k}.npy"]) for k in ("label", "split"))
    photo_label, photo_split = (np.asarray(unseen.arrays[f"photo_{k}.npy"]) for k in ("label", "split"))
    for label, split in zip([*window_label, *photo_label], [*window_split, *photo_split]):
        assert split_of[int(label)] == split
    assert sorted(set(photo_split)) == ["test", "train", "val"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_unseen_profile_runs_the_identity_disjoint_study_with_stated_galleries(tmp_path, capsys, monkeypatch, ray_private):
    """The ``unseen`` profile's flow (its protocol, galleries and per-clip evaluation) at the smallest size."""
    tiny = dataclasses.replace(PROFILES["unseen"], synth={"small": True, "identities": 6}, fractions=FRACTIONS, voice_epochs=1,
                               judge_epochs=1, families=("vae",), seeds=1, max_epochs=1, compute_budget=None, gallery={"size": 100, "draws": 3})
    monkeypatch.setitem(PROFILES, "unseen-tiny", tiny)
    argv = ["paper", "--profile", "unseen-tiny", "--out", str(tmp_path / "run"), "--report-dir", str(tmp_path / "reports")]
    assert main(argv) == 0
    assert "prepared 6 identities" in capsys.readouterr().out
    prepared = load_prepared(tmp_path / "run" / "prepared")
    assert prepared.manifest["params"]["protocol"] == "unseen"
    run = json.loads((tmp_path / "reports" / "run.json").read_text())
    assert run["settings"]["protocol"] == "unseen" and run["settings"]["gallery"] == {"size": 100, "draws": 3}
    trials = list(csv_rows(tmp_path / "reports" / "trials.csv"))
    vae = [t for t in trials if t["target"] == "vae"]
    assert vae and all(float(t["test/gallery_size"]) == 2 and float(t["test/gallery_requested"]) == 100 for t in vae)
    table = (tmp_path / "reports" / "table_identity.md").read_text()
    assert "Recall@1, G drawn (%), chance" in table and "50.0 (G=2)" in table
    assert "requested 100, capped at the C = 2 test identities" in table
    assert "Recall@2, G drawn" not in table  # K >= G is not reported
    known = (tmp_path / "reports" / "known_answer.md").read_text()
    rows = [line.split("|")[1].strip() for line in known.splitlines() if line.startswith("|")]
    assert rows[2:] == ["chance", "ceiling (expected, G = 2, 20000 Monte Carlo galleries)", "oracle on this study's 2 test identities", "vae"]
    assert "1:2 matching above chance (95 % interval over seeds): " in known
    assert "Trait probe: too few unseen identities (4)" in known, "2 validation and 2 test identities: no probe"


def csv_rows(path):
    import csv

    with open(path, newline="") as handle:
        yield from csv.DictReader(handle)
