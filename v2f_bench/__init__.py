"""v2f_bench: reproducible hyperparameter search and benchmarking for voice-to-face synthesis."""

__version__ = "0.1.0"
