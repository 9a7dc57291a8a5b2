"""Bad input to every command: one line on stderr, a non-zero exit, no traceback, and nothing earlier damaged.

One table covers synth, prepare, train, tune, compare, cluster validate, report and paper with
malformed arguments, missing files and files in the wrong format. Each row runs in a workspace
that already holds what a previous run wrote where the command would write (a prepared dataset,
a run directory with its voice and judge stages, a search storage with an earlier search and an
earlier comparison, a report); every file of it is hashed before the command and must be
byte-identical after. Ray must never start: every row has to be refused before expensive work.

Rows already in ``tests/test_cli.py`` (missing data root, bad --split-fractions, --min-clips 0,
synth into a data root, report on a missing or empty directory, ...) are not repeated here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from v2f_bench.cli import main

CLI = str(Path(sys.executable).with_name("v2f-bench"))

PROGRESS = re.compile(r": *\d+%\|.*\| *\d+/\d+ \[")
"""A tqdm progress line on stderr (not part of the error message)."""

PYTHON_TAG = '!!python/object/apply:os.system ["echo PWNED"]'


class RayStarted(AssertionError):
    """Raised instead of starting Ray: bad input must be refused before any expensive work."""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def prepared(small_raw, tmp_path_factory) -> Path:
    """A good prepared dataset (read-only by convention; its files are hashed by every row too)."""
    from v2f_bench.data.prepared import PrepareConfig, prepare
    from v2f_bench.data.sources import resolve_sources

    out = tmp_path_factory.mktemp("bad_input") / "prepared"
    prepare(resolve_sources(small_raw, None, None), out, PrepareConfig())
    return out


@pytest.fixture
def no_ray(monkeypatch):
    """Any attempt to open a Ray session fails the test."""
    import v2f_bench.parallel

    def refuse(address):
        raise RayStarted(f"Ray was started (address {address!r}) before the bad input was refused")

    monkeypatch.setattr(v2f_bench.parallel, "ray_session", refuse)


class Workspace:
    """Paths a row's argv may name as {placeholders}, with earlier outputs already in place."""

    def __init__(self, tmp: Path, raw: Path, prepared: Path):
        self.tmp, self.raw, self.prepared = tmp, raw, prepared
        self.cwd = tmp / "cwd"
        self.prev = tmp / "prev_prepared"
        self.run = tmp / "run"
        self.searches = tmp / "searches"
        self.report = tmp / "report"
        self.files = tmp / "files"
        self.rawc = tmp / "raw_copy"
        self.cwd.mkdir()
        shutil.copytree(prepared, self.prev)
        self._earlier_run()
        self._earlier_searches()
        self._earlier_report()
        self._bad_files()

    def _earlier_run(self) -> None:
        write(self.run / "voice" / "stage.json", json.dumps({"key": "earlier-voice", "test": {"test_accuracy": 0.9}}))
        write(self.run / "voice" / "best_checkpoint" / "state.pt", b"\x80earlier voice weights")
        write(self.run / "judge" / "stage.json", json.dumps({"key": "earlier-judge", "calibration": {"tau": 0.7}}))
        write(self.run / "judge" / "judge.pt", b"\x80earlier judge weights")
        write(self.run / "data" / "notes.txt", "not this profile's synthetic set\n")

    def _earlier_searches(self) -> None:
        write(self.searches / "earlier" / "v2f_search.json", json.dumps({"target": "voice", "name": "earlier", "seed": 0}))
        write(self.searches / "earlier" / "result.json", '{"val_clip_accuracy": 0.5}\n')
        write(self.searches / "compare" / "compare.json", json.dumps({"families": ["vae"], "seeds": [0], "searches": []}))
        write(self.searches / "compare" / "vae-s0" / "v2f_search.json", json.dumps({"target": "vae", "name": "vae-s0"}))

    def _earlier_report(self) -> None:
        write(self.report / "index.html", "<html>earlier report</html>\n")
        write(self.report / "table1.md", "| family | accuracy |\n")

    def _bad_files(self) -> None:
        f = self.files
        write(f / "text.wav", "this is a text file, not audio\n")
        write(f / "truncated.jpg", next(self.raw.glob("vggface2/train/*/*.jpg")).read_bytes()[:300])
        write(f / "audio.yaml", next(self.raw.glob("voxceleb2/dev/aac/*/*/*.wav")).read_bytes()[:4096])
        write(f / "python_space.yaml", f"target: vae\nmetric: val_verification_accuracy\nparameters:\n  g_lr: {PYTHON_TAG}\n")
        write(f / "python_config.yaml", f"g_lr: {PYTHON_TAG}\n")
        write(f / "sampled_budget_space.yaml", "target: vae\nmetric: val_verification_accuracy\nmode: max\nparameters:\n"
                                               "  budget_flops: {type: loguniform, low: 1.0e+9, high: 1.0e+12}\n")
        write(f / "python_cluster.yaml", f"cluster_name: x\nprovider: {PYTHON_TAG}\nmax_workers: 2\n")
        write(f / "empty.yaml", "")
        write(f / "broken.yaml", "lr: [1.0, 2.0\nbatch: {\n")
        write(f / "string_lr.yaml", "lr: fast\n")
        write(f / "zero_epochs.yaml", "max_epochs: 0\n")
        write(f / "vae_key_for_voice.yaml", "latent_dim: 32\n")
        write(f / "cgan_space.yaml", "target: cgan\nmetric: val_verification_accuracy\nparameters:\n"
                                     "  batch_size: {type: choice, values: [16, 32]}\n")
        write(f / "broken_search" / "experiment" / "v2f_search.json", "{oops")
        self._broken_prepared("not_json", lambda m: "{not json")
        self._broken_prepared("older_format", lambda m: json.dumps({**m, "format": "v2f_bench.prepared/1"}))
        self._broken_prepared("a_list", lambda m: "[1, 2, 3]")
        self._broken_prepared("no_outputs", lambda m: json.dumps({k: v for k, v in m.items() if k != "outputs"}))

    def _broken_prepared(self, name: str, manifest) -> None:
        folder = shutil.copytree(self.prepared, self.files / name)
        (folder / "manifest.json").write_text(manifest(json.loads((folder / "manifest.json").read_text())))

    def raw_copy(self) -> Path:
        if not self.rawc.exists():
            shutil.copytree(self.raw, self.rawc)
        return self.rawc

    def fill(self, text: str) -> str:
        return text.format(**{k: str(v) for k, v in vars(self).items()})


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@pytest.fixture
def ws(tmp_path, small_raw, prepared, monkeypatch) -> Workspace:
    workspace = Workspace(tmp_path, small_raw, prepared)
    monkeypatch.chdir(workspace.cwd)  # default relative outputs (runs/, reports/) would land here and be caught
    return workspace


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` -> SHA-256 of its content."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def message_lines(err: str) -> list[str]:
    """stderr without progress bars (their carriage-return frames included) and blank lines."""
    lines = []
    for line in err.splitlines():
        line = line.split("\r")[-1].strip()
        if line and not PROGRESS.search(line):
            lines.append(line)
    return lines


# ----------------------------------------------------------------------------- raw-data damage for prepare rows


def all_clips_text(ws: Workspace) -> None:
    for clip in ws.raw_copy().glob("voxceleb2/dev/aac/*/*/*"):
        clip.write_text("a text file named like audio\n")


def all_photos_truncated(ws: Workspace) -> None:
    for photo in ws.raw_copy().glob("vggface2/train/*/*.jpg"):
        photo.write_bytes(photo.read_bytes()[:300])


def meta_wrong_columns(ws: Workspace) -> None:
    (ws.raw_copy() / "voxceleb2" / "vox2_meta.csv").write_text("Name,Face,Sex\nid04064,n004063,f\n")


def meta_binary(ws: Workspace) -> None:
    meta = ws.raw_copy() / "voxceleb2" / "vox2_meta.csv"
    meta.write_bytes(next(ws.rawc.glob("vggface2/train/*/*.jpg")).read_bytes()[:2000])


def boxes_wrong_columns(ws: Workspace) -> None:
    (ws.raw_copy() / "vggface2" / "bb_landmark" / "loose_bb_train.csv").write_text("A,B\nx,y\n")


# ----------------------------------------------------------------------------- the table

STAGE = ["--prepared", "{prepared}", "--run-dir", "{run}"]
SEARCH = [*STAGE, "--storage", "{searches}"]
ARGPARSE = "argparse"
"""Marks rows that argparse itself refuses (usage line + error line, SystemExit 2)."""



def row(command, case, argv, message, setup=None, kind="user", marks=()):
    return pytest.param(argv, message, setup, kind, id=f"{command}-{case}", marks=marks)


CASES = [
    # synth
    row("synth", "non-numeric-identities", ["synth", "{tmp}/new", "--identities", "nine"], "argument --identities: invalid int value: 'nine'", kind=ARGPARSE),
    row("synth", "negative-clips", ["synth", "{tmp}/new", "--clips", "-1"], "--clips -1: must be at least 1"),
    row("synth", "zero-photos", ["synth", "{tmp}/new", "--photos", "0"], "--photos 0: must be at least 1"),
    row("synth", "zero-workers", ["synth", "{tmp}/new", "--workers", "0"], "--workers 0: must be at least 1"),
    row("synth", "negative-seed", ["synth", "{tmp}/new", "--seed", "-1"], "--seed -1: must be at least 0"),
    row("synth", "out-is-a-file", ["synth", "{files}/text.wav"], "{files}/text.wav: exists"),
    row("synth", "over-a-prepared-dataset", ["synth", "{prev}", "--small"], "{prev}: exists and is not empty"),
    # prepare
    row("prepare", "missing-voices-dir", ["prepare", "--voices", "{tmp}/nope", "--faces", "{raw}/vggface2", "--out", "{prev}"],
        "{tmp}/nope: voice dataset not found"),
    row("prepare", "no-out", ["prepare", "{raw}"], "the following arguments are required: --out", kind=ARGPARSE),
    row("prepare", "non-numeric-min-photos", ["prepare", "{raw}", "--out", "{prev}", "--min-photos", "three"],
        "argument --min-photos: invalid int value: 'three'", kind=ARGPARSE),
    row("prepare", "unknown-backend", ["prepare", "{raw}", "--out", "{prev}", "--backend", "tensorflow"],
        "argument --backend: invalid choice: 'tensorflow'", kind=ARGPARSE),
    row("prepare", "negative-seed", ["prepare", "{raw}", "--out", "{prev}", "--seed", "-1"], "--seed -1: must be at least 0"),
    row("prepare", "judge-size-too-small", ["prepare", "{raw}", "--out", "{prev}", "--judge-size", "32"], "--judge-size 32: must be an integer of at least 75"),
    row("prepare", "zero-max-identities", ["prepare", "{raw}", "--out", "{prev}", "--max-identities", "0"], "--max-identities must be at least 1"),
    row("prepare", "every-clip-a-text-file-named-wav", ["prepare", "{rawc}", "--out", "{prev}"],
        "nothing usable remains after skipping", setup=all_clips_text),
    row("prepare", "every-photo-a-truncated-jpg", ["prepare", "{rawc}", "--out", "{prev}"], "unreadable image", setup=all_photos_truncated),
    row("prepare", "vox-meta-csv-wrong-columns", ["prepare", "{rawc}", "--out", "{prev}"],
        "{rawc}/voxceleb2/vox2_meta.csv: not a VoxCeleb2 meta file", setup=meta_wrong_columns),
    row("prepare", "vox-meta-csv-is-binary", ["prepare", "{rawc}", "--out", "{prev}"],
        "{rawc}/voxceleb2/vox2_meta.csv: not UTF-8 text", setup=meta_binary),
    row("prepare", "box-csv-wrong-columns", ["prepare", "{rawc}", "--out", "{prev}"],
        "{rawc}/vggface2/bb_landmark/loose_bb_train.csv: not a VGGFace2 loose_bb_train file", setup=boxes_wrong_columns),
    row("prepare", "out-is-a-text-wav", ["prepare", "{raw}", "--out", "{files}/text.wav"], "--out {files}/text.wav: exists and is not a directory"),
    # train
    row("train", "unknown-family", ["train", "gan9000", *STAGE], "unknown target 'gan9000'"),
    row("train", "non-numeric-epochs", ["train", "vae", *STAGE, "--epochs", "ten"], "argument --epochs: invalid int value: 'ten'", kind=ARGPARSE),
    row("train", "the-judge", ["train", "judge", *STAGE], "`train judge`: the judge is trained as the judge stage of `train FAMILY`"),
    row("train", "zero-epochs", ["train", "voice", *STAGE, "--epochs", "0"], "--epochs 0: must be at least 1"),
    row("train", "negative-judge-epochs", ["train", "vae", *STAGE, "--judge-epochs", "-2"], "--judge-epochs -2: must be at least 1"),
    row("train", "unknown-judge", ["train", "vae", *STAGE, "--judge", "arcface"], "argument --judge: invalid choice: 'arcface'", kind=ARGPARSE),
    row("train", "missing-judge-weights", ["train", "vae", *STAGE, "--judge", "vggface2", "--judge-weights", "{tmp}/nope.pt"],
        "judge weights 'vggface2' not found at {tmp}/nope.pt"),
    row("train", "unknown-judge-align", ["train", "vae", *STAGE, "--judge", "dlib", "--judge-align", "mtcnn"],
        "argument --judge-align: invalid choice: 'mtcnn'", kind=ARGPARSE),
    row("train", "missing-prepared", ["train", "vae", "--prepared", "{tmp}/nope", "--run-dir", "{run}"], "{tmp}/nope: not a prepared dataset"),
    row("train", "raw-data-as-prepared", ["train", "vae", "--prepared", "{raw}", "--run-dir", "{run}"], "{raw}: not a prepared dataset (no manifest.json)"),
    row("train", "manifest-not-json", ["train", "vae", "--prepared", "{files}/not_json", "--run-dir", "{run}"],
        "{files}/not_json/manifest.json: not valid JSON"),
    row("train", "prepared-in-an-older-format", ["train", "vae", "--prepared", "{files}/older_format", "--run-dir", "{run}"],
        "format 'v2f_bench.prepared/1', expected 'v2f_bench.prepared/2'"),
    row("train", "manifest-a-json-list", ["train", "vae", "--prepared", "{files}/a_list", "--run-dir", "{run}"], "{files}/a_list/manifest.json: not a prepared-dataset manifest"),
    row("train", "manifest-without-outputs", ["train", "vae", "--prepared", "{files}/no_outputs", "--run-dir", "{run}"], "{files}/no_outputs/manifest.json: not a prepared-dataset manifest"),
    row("train", "config-python-tag", ["train", "vae", *STAGE, "--config", "{files}/python_config.yaml"],
        "{files}/python_config.yaml: not plain YAML"),
    row("train", "config-missing", ["train", "vae", *STAGE, "--config", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: cannot read"),
    row("train", "config-broken-yaml", ["train", "cgan", *STAGE, "--config", "{files}/broken.yaml"], "{files}/broken.yaml: not plain YAML"),
    row("train", "config-wrong-type", ["train", "voice", *STAGE, "--config", "{files}/string_lr.yaml"], "{files}/string_lr.yaml: lr: expected a finite number"),
    row("train", "config-zero-epochs", ["train", "rcgan", *STAGE, "--config", "{files}/zero_epochs.yaml"],
        "{files}/zero_epochs.yaml: max_epochs: must be at least 1"),
    row("train", "voice-config-unknown-key", ["train", "vae", *STAGE, "--voice-config", "{files}/vae_key_for_voice.yaml"],
        "{files}/vae_key_for_voice.yaml: 'latent_dim' is not a voice hyperparameter"),
    row("train", "voice-config-wrong-type", ["train", "vae", *STAGE, "--voice-config", "{files}/string_lr.yaml"],
        "{files}/string_lr.yaml: lr: expected a finite number"),
    row("train", "judge-config-wrong-type", ["train", "vae", *STAGE, "--judge-config", "{files}/string_lr.yaml"],
        "{files}/string_lr.yaml: lr: expected a finite number"),
    row("train", "judge-config-beside-judge-epochs", ["train", "vae", *STAGE, "--judge-config", "{files}/empty.yaml", "--judge-epochs", "2"],
        "--judge-config {files}/empty.yaml and --judge-epochs: the file sets the judge's settings; give one of them"),
    row("train", "judge-config-of-another-judge", ["train", "vae", *STAGE, "--judge-config", "{files}/empty.yaml", "--judge", "dlib"],
        "--judge-config {files}/empty.yaml: the file holds settings of the 'trained' judge; drop --judge dlib"),
    row("train", "pretrained-voice-encoder", ["train", "voice", *STAGE, "--voice-encoder", "ge2e"],
        "--voice-encoder ge2e: a pretrained encoder, so there is nothing to train"),
    row("train", "unknown-voice-encoder", ["train", "vae", *STAGE, "--voice-encoder", "wav2vec"], "argument --voice-encoder: invalid choice: 'wav2vec'",
        kind=ARGPARSE),
    # tune
    row("tune", "pretrained-voice-encoder", ["tune", "voice", *SEARCH, "--voice-encoder", "ge2e"],
        "--voice-encoder ge2e: a pretrained encoder, so there is nothing to tune"),
    row("tune", "non-numeric-trials", ["tune", "vae", *SEARCH, "--trials", "many"], "argument --trials: invalid int value: 'many'", kind=ARGPARSE),
    row("tune", "negative-trials", ["tune", "vae", *SEARCH, "--trials", "-1"], "--trials, --max-epochs and --concurrency must be at least 1"),
    row("tune", "unknown-scheduler", ["tune", "vae", *SEARCH, "--scheduler", "pbt"], "argument --scheduler: invalid choice: 'pbt'", kind=ARGPARSE),
    row("tune", "negative-seed", ["tune", "vae", *SEARCH, "--seed", "-3"], "--seed -3: must be at least 0"),
    row("tune", "unknown-target", ["tune", "gan9000", *SEARCH], "unknown target 'gan9000'"),
    row("tune", "missing-space", ["tune", "vae", *SEARCH, "--space", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: cannot read"),
    row("tune", "space-python-tag", ["tune", "vae", *SEARCH, "--space", "{files}/python_space.yaml"],
        "{files}/python_space.yaml: not plain YAML (line 4"),
    row("tune", "space-samples-the-trial-budget", ["tune", "vae", *SEARCH, "--space", "{files}/sampled_budget_space.yaml"],
        "{files}/sampled_budget_space.yaml: parameters.budget_flops: budget_flops is a study setting, the same for every trial"),
    row("tune", "space-is-audio", ["tune", "vae", *SEARCH, "--space", "{files}/audio.yaml"], "{files}/audio.yaml: not UTF-8 text"),
    row("tune", "judge-search-of-a-pretrained-judge", ["tune", "judge", *SEARCH, "--judge", "dlib"],
        "--judge dlib: `tune judge` searches the hyperparameters of the 'trained' judge only"),
    row("tune", "adopt-a-generator-trial", ["tune", "vae", *SEARCH, "--adopt"], "--adopt: a generator trial is not a stage"),
    row("tune", "space-empty", ["tune", "judge", *SEARCH, "--space", "{files}/empty.yaml"], "{files}/empty.yaml: expected a mapping"),
    row("tune", "space-for-another-family", ["tune", "vae", *SEARCH, "--space", "{files}/cgan_space.yaml"],
        "{files}/cgan_space.yaml: is a search space for 'cgan', not 'vae'"),
    row("tune", "missing-prepared", ["tune", "voice", "--prepared", "{tmp}/nope", "--storage", "{searches}"], "{tmp}/nope: not a prepared dataset"),
    row("tune", "name-of-an-earlier-search", ["tune", "voice", *SEARCH, "--name", "earlier"], "{searches}/earlier: a search of that name exists"),
    row("tune", "resume-nothing", ["tune", "voice", *SEARCH, "--name", "never", "--resume"], "{searches}/never: no interrupted search to resume"),
    row("tune", "voice-config-python-tag", ["tune", "cgan", *SEARCH, "--voice-config", "{files}/python_config.yaml"],
        "{files}/python_config.yaml: not plain YAML"),
    # compare
    row("compare", "unknown-family", ["compare", *SEARCH, "--families", "vae,gan9000"], "--families: 'gan9000' is not a generator family"),
    row("compare", "voice-is-no-family", ["compare", *SEARCH, "--families", "voice"], "--families: 'voice' is not a generator family"),
    row("compare", "no-family", ["compare", *SEARCH, "--families", " , "], "--families: give at least one generator family"),
    row("compare", "family-twice", ["compare", *SEARCH, "--families", "vae,cgan,vae"], "--families: 'vae' is listed twice"),
    row("compare", "non-numeric-seeds", ["compare", *SEARCH, "--seeds", "two"], "argument --seeds: invalid int value: 'two'", kind=ARGPARSE),
    row("compare", "zero-seeds", ["compare", *SEARCH, "--seeds", "0"], "--seeds 0: must be at least 1"),
    row("compare", "grace-beyond-epochs", ["compare", *SEARCH, "--grace-period", "5", "--max-epochs", "2"], "--grace-period 5 must lie between 1 and --max-epochs 2"),
    row("compare", "non-numeric-cpus", ["compare", *SEARCH, "--cpus-per-trial", "half"], "argument --cpus-per-trial: invalid float value: 'half'", kind=ARGPARSE),
    row("compare", "unparsable-compute-budget", ["compare", *SEARCH, "--compute-budget", "lots"],
        "--compute-budget 'lots': not a compute amount; write FLOPs (2e15, 2PFLOP) or resource-seconds (600cpu-s, 2gpu-h)"),
    row("compare", "gpu-seconds-without-gpus", ["compare", *SEARCH, "--compute-budget", "2gpu-h"], "--compute-budget 2gpu-h: GPU-seconds, but trials hold no GPU"),
    row("compare", "budget-counts-without-budget", ["compare", *SEARCH, "--budget-counts", "train+eval"],
        "--budget-counts train+eval: it says what a FLOP --compute-budget counts; give --compute-budget too"),
    row("compare", "budget-counts-of-seconds", ["compare", *SEARCH, "--compute-budget", "600cpu-s", "--budget-counts", "train"],
        "--budget-counts with --compute-budget 600cpu-s: resource-seconds always count evaluation"),
    row("tune", "zero-compute-budget", ["tune", "vae", *SEARCH, "--compute-budget", "0PFLOP"], "--compute-budget '0PFLOP': must be positive"),
    row("compare", "earlier-comparison-of-that-name", ["compare", *SEARCH, "--families", "vae"], "{searches}/compare: holds an earlier comparison"),
    row("compare", "missing-prepared", ["compare", "--prepared", "{tmp}/nope", "--storage", "{searches}", "--name", "new"], "{tmp}/nope: not a prepared dataset"),
    row("compare", "voice-config-wrong-type", ["compare", *SEARCH, "--name", "new", "--voice-config", "{files}/string_lr.yaml"],
        "{files}/string_lr.yaml: lr: expected a finite number"),
    # cluster validate
    row("cluster", "python-tag", ["cluster", "validate", "{files}/python_cluster.yaml"], "{files}/python_cluster.yaml: not plain YAML (line 2"),
    row("cluster", "missing-file", ["cluster", "validate", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: cannot read (No such file or directory)"),
    row("cluster", "a-directory", ["cluster", "validate", "{files}"], "{files}: cannot read"),
    row("cluster", "audio-bytes", ["cluster", "validate", "{files}/audio.yaml"], "{files}/audio.yaml: not UTF-8 text"),
    row("cluster", "empty-file", ["cluster", "validate", "{files}/empty.yaml"], "{files}/empty.yaml: expected a Ray cluster config"),
    row("cluster", "no-action", ["cluster"], "the following arguments are required: ACTION", kind=ARGPARSE),
    row("cluster", "unknown-action", ["cluster", "launch", "{files}/empty.yaml"], "argument ACTION: invalid choice: 'launch'", kind=ARGPARSE),
    # report
    row("report", "no-run-dirs", ["report", "--out", "{report}"], "the following arguments are required: runs", kind=ARGPARSE),
    row("report", "run-dir-is-a-file", ["report", "{files}/text.wav", "--out", "{report}"], "{files}/text.wav: is a file"),
    row("report", "prepared-dir-is-no-run", ["report", "{prepared}", "--out", "{report}"], "nothing usable in {prepared}"),
    row("report", "broken-search-record", ["report", "{files}/broken_search", "--out", "{report}"],
        "{files}/broken_search/experiment/v2f_search.json: unreadable"),
    row("report", "out-is-a-file", ["report", "{searches}", "--out", "{files}/text.wav"], "--out {files}/text.wav: cannot"),
    # paper
    row("paper", "unknown-profile", ["paper", "--profile", "huge", "--out", "{run}", "--report-dir", "{report}"],
        "argument --profile: invalid choice: 'huge'", kind=ARGPARSE),
    row("paper", "non-numeric-seed", ["paper", "--profile", "small", "--seed", "x", "--out", "{run}", "--report-dir", "{report}"],
        "argument --seed: invalid int value: 'x'", kind=ARGPARSE),
    row("paper", "negative-seed", ["paper", "--profile", "small", "--seed", "-1", "--out", "{tmp}/new", "--report-dir", "{report}"],
        "--seed -1: must be a non-negative integer"),
    row("paper", "out-is-a-file", ["paper", "--profile", "small", "--out", "{files}/text.wav", "--report-dir", "{report}"],
        "--out {files}/text.wav: {files}/text.wav exists and is not a directory"),
    row("paper", "report-dir-under-a-file", ["paper", "--profile", "small", "--out", "{tmp}/new", "--report-dir", "{files}/truncated.jpg/report"],
        "--report-dir {files}/truncated.jpg/report: {files}/truncated.jpg exists and is not a directory"),
    row("paper", "run-dir-holds-other-data", ["paper", "--profile", "small", "--out", "{run}", "--report-dir", "{report}"],
        "{run}/data: holds other data than this profile's synthetic set"),
]


@pytest.mark.parametrize("argv, message, setup, kind", CASES)
def test_bad_input_is_one_line_a_nonzero_exit_and_damages_nothing(ws, no_ray, capsys, argv, message, setup, kind):
    if setup is not None:
        setup(ws)
    argv = [ws.fill(a) for a in argv]
    message = ws.fill(message)
    before = snapshot(ws.tmp, ws.prepared)
    capsys.readouterr()
    if kind == ARGPARSE:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        code = exit_info.value.code
    else:
        code = main(argv)
    out, err = capsys.readouterr()
    lines = message_lines(err)
    assert code not in (0, None), f"exit status {code}; stderr: {err}"
    assert "Traceback" not in out + err
    assert lines, "nothing on stderr"
    command = argv[0]
    assert lines[-1].startswith(f"v2f-bench {command}: error: "), lines
    assert message in lines[-1], lines
    if kind == ARGPARSE:
        assert code == 2 and all(line.startswith("usage:") or not line.startswith("v2f-bench") for line in lines[:-1]), lines
    else:
        assert code == 2 and len(lines) == 1, f"more than one line on stderr: {lines}"
    assert snapshot(ws.tmp, ws.prepared) == before, "a failed command changed files that were there before it"


# ----------------------------------------------------------------------------- one bad item among good ones


def one_text_wav(ws: Workspace) -> str:
    clip = sorted(ws.raw_copy().glob("voxceleb2/dev/aac/*/*/*.wav"))[0]
    clip.write_text("a text file named like audio\n")
    return clip.relative_to(ws.rawc / "voxceleb2").as_posix()


def one_truncated_jpg(ws: Workspace) -> str:
    photo = sorted(ws.raw_copy().glob("vggface2/train/*/*.jpg"))[0]
    photo.write_bytes(photo.read_bytes()[:300])
    return photo.relative_to(ws.rawc / "vggface2").as_posix()


@pytest.mark.parametrize(
    "damage, kind, reason",
    [
        pytest.param(one_text_wav, "clip", "cannot decode audio", id="a-text-file-named-wav"),
        pytest.param(one_truncated_jpg, "photo", "unreadable image", id="a-truncated-jpg"),
    ],
)
def test_one_bad_file_among_good_ones_is_a_counted_and_listed_skip(ws, no_ray, capsys, damage, kind, reason):
    """A researcher with one corrupt download wants the rest prepared: exit 0, the item counted and listed."""
    rel = damage(ws)
    assert main(["prepare", str(ws.rawc), "--out", str(ws.tmp / "ds")]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert f"skipped 1 items (1 {kind})" in out
    listed = [line for line in out.splitlines() if rel in line]
    assert len(listed) == 1 and reason in listed[0], out
    manifest = json.loads((ws.tmp / "ds" / "manifest.json").read_text())
    assert [(s["kind"], s["item"]) for s in manifest["skipped"]] == [(kind, rel)]
    assert rel not in {row["file"] for row in manifest["clips"] + manifest["photos"]}


# ----------------------------------------------------------------------------- end to end through the console script


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["tune", "vae", *SEARCH, "--space", "{files}/python_space.yaml"], "Python object tags are refused", id="tune-space-python-tag"),
        pytest.param(["train", "vae", *STAGE, "--epochs", "-5"], "--epochs -5: must be at least 1", id="train-negative-epochs"),
        pytest.param(["cluster", "validate", "{files}/python_cluster.yaml"], "Python object tags are refused", id="cluster-python-tag"),
    ],
)
def test_console_script_exits_non_zero_with_one_line_and_no_traceback(ws, argv, message):
    before = snapshot(ws.tmp, ws.prepared)
    done = subprocess.run([CLI, *(ws.fill(a) for a in argv)], capture_output=True, text=True, timeout=120, cwd=ws.cwd)
    lines = message_lines(done.stderr)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"v2f-bench {argv[0]}: error: ") and message in lines[0], done.stderr
    assert snapshot(ws.tmp, ws.prepared) == before
