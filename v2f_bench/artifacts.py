"""Names of the files that searches and trials write and the report reads: declared once, here.

This module imports nothing, so the report can name them without importing the trainables (torch).
"""

SEARCH_RECORD = "v2f_search.json"
"""Beside a Ray experiment: target, space, budget, resources, seed, prepared-dataset key."""
OPTUNA_STUDY = "optuna_study.log"
"""Beside a Ray experiment: the search's Optuna study as Optuna's journal file (``optuna-dashboard <file>``)."""
COMPARE_RECORD = "compare.json"
"""At a comparison root: families, seeds, the shared budget and each search's outcome."""
ENCODERS_RECORD = "voice_encoders.json"
"""At the root of a comparison over voice encoders: the encoders, each a sub-study folder holding a comparison."""
STAGES_FOLDER = "stages"
"""Inside a generator experiment: the embeddings and tau curve the report draws from."""
STATE_FILE = "state.pt"
"""In a checkpoint: the trainable's state (read with weights_only=True)."""
TEST_METRICS_FILE = "test_metrics.json"
"""In a checkpoint: the test-split metrics of that checkpoint's model, never reported to Tune."""
LADDER_FILE = "ladder.json"
"""In a generator checkpoint: every evaluation point of the trial so far (rung, FLOPs spent, validation and test values)."""
DIVERGED_FILE = "diverged.txt"
"""In a trial directory: the reason the trial diverged, so Ray's retries fail at once."""
SAMPLE_GENERATED = "samples_generated.npy"
SAMPLE_TARGETS = "samples_target.npy"
SAMPLE_LABELS = "samples_label.npy"
"""In a generator checkpoint: one generated face per identity, its target face and the labels (Fig. 10)."""
PREPARED_MANIFEST = "manifest.json"
"""In a prepared dataset (a folder or a storage URI): its manifest, written last (``data.prepared``, ``data.remote``)."""
BENCHMARKS_RESULTS = "benchmarks.json"
"""In a report folder: the benchmark suite's results (``python -m benchmarks``), shown on the report page."""

STAGE_VOICE_EMBEDDINGS = "voice_clip_embeddings.npy"
STAGE_VOICE_LABELS = "voice_clip_labels.npy"
STAGE_FACE_EMBEDDINGS = "face_embeddings.npy"
STAGE_FACE_LABELS = "face_labels.npy"
STAGE_JUDGE = "judge.json"
STAGE_IDENTITIES = "identities.json"
STAGE_KNOWN_ANSWER = "known_answer.json"
"""In ``<experiment>/stages/``: the voice clip embeddings and the judge's real-photo embeddings with
their labels (t-SNE), the judge's calibration and test verification (tau curve), the identities, and on the
synthetic stand-in its known answer (``known_answer.study_answer``: the ceiling and the trait probe)."""

EMBEDDING_COLUMN = "embedding"
"""The column of the embedding shards a stage writes (the voice stage's window embeddings, the judge stage's photo embeddings)."""

RAY_RESULT_FILE = "result.json"
RAY_PARAMS_FILE = "params.json"
RAY_ERROR_FILE = "error.txt"
RAY_PROGRESS_FILE = "progress.csv"
"""Ray Tune's own files in a trial directory (one JSON line per report; the config; the failure log)."""
TRIAL_FILES = (RAY_RESULT_FILE, RAY_PARAMS_FILE, RAY_ERROR_FILE, RAY_PROGRESS_FILE)
"""A subdirectory of an experiment holding any of these is a trial directory."""
UNRECORDED_FOLDER = ".unrecorded"
"""In an experiment resumed after its driver was killed: the trial directories Ray's last snapshot of the search did not
record (``search.set_aside_unrecorded``). Ray ran those trials' places again; they are kept here, out of the results."""
RAY_STATE_PREFIX = "experiment_state-"
"""Ray Tune's snapshots of an experiment's trials: ``experiment_state-<timestamp>.json``."""
RAY_MARKERS = ("tuner.pkl", ".validate_storage_marker")
"""Files Ray writes into an experiment directory before its first experiment_state-*.json."""

