"""The voice-encoder interface: what turns a prepared dataset into voice embeddings.

An encoder gives one embedding per prepared voice window, (W, D) float32, and one per clip, (C, D)
= the mean of that clip's windows (``ClipMeans``). The voice stage takes the window embeddings one prepared voice
shard at a time (``checked_shards``) and writes them as shards beside it, with the clip embeddings; generators read
only those, so any width D works downstream (a family is built with ``embed_dim = D``).

Two kinds:

- ``trainable = True``: fitted by the voice task through a Ray Tune trial (``hyperparameters`` and
  ``objective`` declare what it takes and is selected by; ``training`` gives the trial's data and
  full config; ``epochs`` is its training loop, one yield per epoch; ``load`` reads the fitted model back
  from the trial's checkpoint; ``window_embeddings`` then embeds with it).
- ``trainable = False`` (pretrained, frozen): ``window_embeddings`` embeds directly; ``cache_inputs``
  names what besides the prepared data fixes the output (e.g. the weights' hash), for the stage's key.

Adding an encoder: one module with a ``VoiceEncoder`` subclass and one line in ``registry.py`` (or a
call to ``register_voice_encoder``); the stages, the CLI and the report find it by ``name``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from v2f_bench.data.prepared import VOICE_SHARDS
from v2f_bench.hyperparameters import Hyper


class VoiceEncoder:
    """Base class; subclasses set ``name``, ``trainable`` and ``embedding_dim`` and implement ``window_embeddings``."""

    name: ClassVar[str] = ""
    trainable: ClassVar[bool] = False
    embedding_dim: ClassVar[int] = 0
    description: ClassVar[str] = ""
    hyperparameters: ClassVar[dict[str, Hyper]] = {}
    """A trainable encoder's trial hyperparameters (``tasks.voice.VoiceTask.target`` makes them the ``voice`` target)."""
    objective: ClassVar[tuple[str, str] | None] = None
    """A trainable encoder's (validation metric its trial reports, max or min): what a voice search selects by."""

    def __init__(self, audio_root: Path | None = None):
        """``audio_root``: where the raw voice clips are now, for encoders that re-read audio rather than
        the prepared features (default: the prepared manifest's ``sources.voice_root``)."""
        self.audio_root = None if audio_root is None else Path(audio_root)

    def window_embeddings(self, prepared, model=None) -> np.ndarray:
        """(W, embedding_dim) float32, row i for prepared window i; ``model`` is what ``load`` returned (trainable ones)."""
        raise NotImplementedError

    def shard_embeddings(self, prepared, model=None) -> Iterator[np.ndarray]:
        """The window embeddings one prepared voice shard at a time, in shard order. By default ``window_embeddings`` cut
        at the shards; an encoder that reads the prepared features shard by shard overrides it, so that a stage holds one
        shard's embeddings at a time."""
        windows = self.window_embeddings(prepared, model)
        if windows.shape != (prepared.n_windows, self.embedding_dim):
            raise ValueError(f"voice encoder {self.name!r} gave embeddings of shape {windows.shape}, expected {(prepared.n_windows, self.embedding_dim)}")
        for part in prepared.manifest["shards"][VOICE_SHARDS]["files"]:
            yield windows[part["first"] : part["first"] + part["rows"]]

    def checked_shards(self, prepared, model=None) -> Iterator[tuple[dict, np.ndarray]]:
        """(the voice shard's spec {"file", "first", "rows"}, its windows' embeddings as (rows, embedding_dim) float32) for
        every prepared voice shard; an encoder that gives another shape or count is a ValueError naming it."""
        parts = prepared.manifest["shards"][VOICE_SHARDS]["files"]
        given = iter(self.shard_embeddings(prepared, model))
        for k, part in enumerate(parts):
            windows = next(given, None)
            if windows is None:
                raise ValueError(f"voice encoder {self.name!r} gave embeddings for {k} voice shards of {len(parts)}")
            windows = np.ascontiguousarray(windows, dtype=np.float32)
            if windows.shape != (part["rows"], self.embedding_dim):
                raise ValueError(f"voice encoder {self.name!r} gave embeddings of shape {windows.shape} for voice shard {part['file']}, "
                                 f"expected {(part['rows'], self.embedding_dim)}")
            yield part, windows
        if next(given, None) is not None:
            raise ValueError(f"voice encoder {self.name!r} gave embeddings for more voice shards than the {len(parts)} prepared")

    def embed(self, prepared, model=None) -> tuple[np.ndarray, np.ndarray]:
        """(window embeddings (W, D), clip embeddings (C, D) = mean of each clip's windows), float32, whole in memory."""
        windows = np.concatenate([w for _, w in self.checked_shards(prepared, model)])
        means = ClipMeans(np.asarray(prepared.arrays["window_clip.npy"]), self.embedding_dim)
        means.add(0, windows)
        return windows, means.result()

    def cache_inputs(self) -> dict:
        """What besides the prepared dataset and the config determines the embeddings (part of the voice stage's key)."""
        return {}

    # ---- trainable encoders only

    def trial_config(self, config: dict) -> dict:
        """The trial's full config for user hyperparameters ``config``: checked, defaults filled in (what ``training`` returns
        beside the data, known without building the data)."""
        from v2f_bench.hyperparameters import check_config

        return check_config(self.hyperparameters, config, "voice")

    def training(self, prepared, config: dict) -> tuple[dict, dict]:
        """(the trial's data for the object store, the trial's full config) for user hyperparameters ``config``."""
        raise NotImplementedError(f"voice encoder {self.name!r} is not trainable")

    def epochs(self, config: dict, data: dict, meter, state: dict | None = None):
        """The training loop, resumed from a checkpoint ``state`` when given: yields (metrics row, checkpoint
        state, extra checkpoint files) after each epoch; every step goes through ``meter.step`` and every
        evaluation through ``meter.evaluate`` (``compute.ComputeMeter``)."""
        raise NotImplementedError(f"voice encoder {self.name!r} is not trainable")

    def search_fixed(self) -> dict:
        """Hyperparameters every trial of a search on this encoder gets, beside the space's."""
        return {}

    def load(self, checkpoint_dir: Path):
        """The fitted model in a finished trial's checkpoint folder."""
        raise NotImplementedError(f"voice encoder {self.name!r} is not trainable")


class ClipMeans:
    """Each clip's mean window embedding, (C, D) float32, accumulated a run of windows at a time (summed in float64), so
    that windows given shard by shard need not be held together; ``window_clip`` is each window's clip."""

    def __init__(self, window_clip: np.ndarray, dim: int):
        self.window_clip = np.asarray(window_clip)
        self.n_clips = int(self.window_clip.max()) + 1
        self.sums = np.zeros((self.n_clips, dim), dtype=np.float64)

    def add(self, first: int, windows: np.ndarray) -> None:
        """Windows ``first`` .. ``first + len(windows) - 1``."""
        np.add.at(self.sums, self.window_clip[first : first + len(windows)], windows)

    def result(self) -> np.ndarray:
        return (self.sums / np.bincount(self.window_clip, minlength=self.n_clips)[:, None]).astype(np.float32)
