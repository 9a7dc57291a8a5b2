"""Names of the files that searches and trials write and the report reads: declared once, here.

This module imports nothing, so the report can name them without importing the trainables (torch).
"""

SEARCH_RECORD = "v2f_search.json"
"""Beside a Ray experiment: target, space, budget, resources, seed, prepared-dataset key."""
COMPARE_RECORD = "compare.json"
"""At a comparison root: families, seeds, the shared budget and each search's outcome."""
STAGES_FOLDER = "stages"
"""Inside a generator experiment: the embeddings and tau curve the report draws from."""
STATE_FILE = "state.pt"
"""In a checkpoint: the trainable's state (read with weights_only=True)."""
TEST_METRICS_FILE = "test_metrics.json"
"""In a checkpoint: the test-split metrics of that checkpoint's model, never reported to Tune."""
DIVERGED_FILE = "diverged.txt"
"""In a trial directory: the reason the trial diverged, so Ray's retries fail at once."""
SAMPLE_GENERATED = "samples_generated.npy"
SAMPLE_TARGETS = "samples_target.npy"
SAMPLE_LABELS = "samples_label.npy"
"""In a generator checkpoint: one generated face per identity, its target face and the labels (Fig. 10)."""
BENCHMARKS_RESULTS = "benchmarks.json"
"""In a report folder: the benchmark suite's results (``python -m benchmarks``), shown on the report page."""
