"""The voice task: training a trainable voice encoder, and the voice stage (the embeddings the generators read).

- ``VoiceTask``: the ``voice`` target is the trainable encoder's declaration; its trial runs the encoder's
  own epoch loop (``VoiceEncoder.epochs``); a finished trial becomes the voice stage (``adopt``).
- ``voice_stage``: the window and clip embeddings of one voice encoder: a trainable one is trained once
  (one configuration, through its Ray trial) and embeds with its best checkpoint; a pretrained one embeds
  directly. The stage writes ``<run_dir>/voice`` with its key (``stage_records``): the window embeddings as shards
  (``write_embeddings``), the clip embeddings as one array.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from v2f_bench.artifacts import EMBEDDING_COLUMN
from v2f_bench.data import shards
from v2f_bench.data.prepared import PreparedDataset
from v2f_bench.errors import UserError
from v2f_bench.hashing import sha256_json
from v2f_bench.stage_records import STAGE_FILE, cached, finish
from v2f_bench.storage import Location
from v2f_bench.targets import Target
from v2f_bench.tasks.base import Context, Epoch, Task, TrialSetup
from v2f_bench.trials import checkpoint_metrics, last_checkpoint, run_one
from v2f_bench.voice_encoders.base import ClipMeans
from v2f_bench.voice_encoders.registry import VOICE_ENCODERS, resolve_voice_encoder


class VoiceTask(Task):
    """Training a trainable voice encoder as a speaker classifier (or however the encoder trains)."""

    role = "voice"
    stage_option = "--voice-config"
    summary = "a trainable voice encoder, selected on its validation metric"

    @classmethod
    def target(cls, name: str = "voice", voice_encoder: str | None = None, families=None) -> Target:
        """The trainable voice encoder ``voice_encoder`` as a target; a pretrained one has nothing to search."""
        encoder = resolve_voice_encoder(voice_encoder)
        if not encoder.trainable:
            trainable = ", ".join(n for n, c in sorted(VOICE_ENCODERS.items()) if c.trainable)
            raise UserError(f"voice encoder {encoder.name!r} is pretrained and has no hyperparameters to train or search; use a trainable one ({trainable})")
        metric, mode = encoder.objective
        return Target("voice", cls.role, encoder.hyperparameters, metric, mode)

    @classmethod
    def trial_data(cls, encoder, prepared, config: dict) -> tuple[dict, dict]:
        """(the trial data of ``encoder``'s training, the trial's full config) for user hyperparameters ``config``."""
        data, config = encoder.training(prepared, config)
        return {**data, "task": cls, "encoder": encoder}, config

    @classmethod
    def setup(cls, name: str, context: Context) -> TrialSetup:
        encoder = resolve_voice_encoder(context.voice_encoder, context.voice_config)
        data, _ = cls.trial_data(encoder, context.prepared, {})
        return TrialSetup(data, {"voice_encoder": encoder.name}, fixed=encoder.search_fixed())

    @classmethod
    def epochs(cls, config: dict, data: dict, meter, state: dict | None = None):
        for row, checkpoint, files in data["encoder"].epochs(config, data, meter, state):
            yield Epoch(row, checkpoint, files)

    @classmethod
    def adopt(cls, context: Context, config: dict, result) -> dict:
        return adopt_voice_trial(context.prepared, context.run_dir, config, result, context.voice_encoder)

    @classmethod
    def stage_settings(cls, record: dict) -> dict:
        return dict(record["config"])

    @classmethod
    def check_request(cls, verb: str, name: str, context: Context) -> None:
        """A pretrained encoder has nothing to train or search."""
        chosen = resolve_voice_encoder(context.voice_encoder)
        if not chosen.trainable:
            trainable = ", ".join(n for n, c in sorted(VOICE_ENCODERS.items()) if c.trainable)
            raise UserError(f"--voice-encoder {chosen.name}: a pretrained encoder, so there is nothing to {verb}; {verb} a trainable one ({trainable})")

    @classmethod
    def train_once(cls, name: str, context: Context, config: dict) -> dict:
        """One voice configuration of a trainable encoder, as the voice stage; its validation and test metrics."""
        chosen = resolve_voice_encoder(context.voice_encoder, config)
        cls.target(name, chosen.name).check(config)
        record = voice_stage(context.prepared, context.run_dir, config, encoder=chosen.name)
        return {"target": name, "config": record["config"], "epoch": record["epoch"], "epochs_trained": record["epochs_trained"],
                "val": record["val"], "test": record["test"]}


def voice_stage(prepared: PreparedDataset, run_dir: Path, config: dict | None = None, storage: str | None = None,
                encoder: str | None = None, audio_root: Path | None = None) -> dict:
    """The voice embeddings of ``encoder`` (a ``VOICE_ENCODERS`` name; default: the one ``config``'s
    ``variant`` names, else paper-text); returns the stage record, which names the encoder.

    A trainable encoder is fitted once through its Ray trial: the trial's Ray results go to
    ``<storage>/stages`` when a (shared) storage is given, else into the stage folder; the chosen
    checkpoint is copied into the stage folder either way. The trial trains in a staging folder
    beside it, so a previous voice stage is replaced only once the new trial has finished (a failed
    or interrupted trial leaves it as it was). A pretrained encoder embeds directly.
    """
    voice_encoder = resolve_voice_encoder(encoder, config, audio_root)
    if not voice_encoder.trainable:
        return _pretrained_voice_stage(prepared, run_dir, voice_encoder, config or {})
    config = voice_encoder.trial_config(config or {})
    folder = Path(run_dir) / "voice"
    found = cached(folder, _voice_key(prepared, voice_encoder, config))
    if found is not None and "epochs_trained" in found:  # older records paired the last epoch's val with the best epoch's test
        if WINDOW_EMBEDDINGS not in found:  # a stage from before the embedding shards: its model is embedded again, not retrained
            (folder / "window_embeddings.npy").unlink(missing_ok=True)
            found = finish(folder, found["key"], {WINDOW_EMBEDDINGS: write_embeddings(voice_encoder, prepared, folder, voice_encoder.load(folder / "best_checkpoint")),
                                                  **{k: v for k, v in found.items() if k != "key"}})
        return found
    data, config = VoiceTask.trial_data(voice_encoder, prepared, config)
    staging = Path(run_dir) / ".voice-training"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    trial_storage = str(Location.parse(storage).child("stages")) if storage else staging
    result = run_one(data, config, trial_storage, "voice_trial")
    shutil.rmtree(folder, ignore_errors=True)
    record = adopt_voice_trial(prepared, run_dir, config, result, voice_encoder.name)
    if storage is None:
        os.replace(staging / "voice_trial", folder / "voice_trial")
    shutil.rmtree(staging, ignore_errors=True)
    return record


def _voice_key(prepared: PreparedDataset, voice_encoder, config: dict) -> str:
    """The voice stage's cache key: the prepared data, the encoder and what fixes its output."""
    return sha256_json({"prepared": prepared.manifest["cache_key"], "encoder": voice_encoder.name, "config": config,
                        "inputs": voice_encoder.cache_inputs()})


def _pretrained_voice_stage(prepared: PreparedDataset, run_dir: Path, voice_encoder, config: dict) -> dict:
    """A frozen encoder's stage: embed every window, no training; the record has no epochs and no test metrics."""
    if config:
        raise UserError(f"voice encoder {voice_encoder.name!r} is pretrained and takes no voice hyperparameters; drop --voice-config "
                        f"(it had {', '.join(sorted(config))})")
    folder = Path(run_dir) / "voice"
    key = _voice_key(prepared, voice_encoder, {})
    found = cached(folder, key)
    if found is not None and WINDOW_EMBEDDINGS in found:
        return found
    started = time.time()
    shutil.rmtree(folder, ignore_errors=True)
    written = {WINDOW_EMBEDDINGS: write_embeddings(voice_encoder, prepared, folder)}
    return finish(folder, key, {"encoder": voice_encoder.name, "trainable": False, "embedding_dim": voice_encoder.embedding_dim,
                                 "config": {}, "epoch": None, "epochs_trained": 0, "val": {}, "test": {},
                                 "embed_seconds": time.time() - started, **written})


def adopt_voice_trial(prepared: PreparedDataset, run_dir: Path, config: dict, result, encoder: str | None = None) -> dict:
    """Make a finished voice trial (a Ray ``Result`` of a search or of ``voice_stage``) the voice stage:
    copy its checkpoint, export the embeddings of the model it holds, and record it under ``config``'s
    key with that model's epoch and its validation and test metrics. ``encoder`` names the trainable
    encoder the trial trained (default: the one ``config``'s ``variant`` names)."""
    voice_encoder = resolve_voice_encoder(encoder, config)
    if not voice_encoder.trainable:
        raise UserError(f"voice encoder {voice_encoder.name!r} is pretrained: it has no trial to adopt")
    _, config = voice_encoder.training(prepared, {k: v for k, v in config.items() if k in voice_encoder.hyperparameters})
    folder = Path(run_dir) / "voice"
    key = _voice_key(prepared, voice_encoder, config)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "best_checkpoint", ignore_errors=True)
    local = Path(last_checkpoint(result).to_directory(str(folder / "best_checkpoint")))
    model = voice_encoder.load(local)
    outcome = checkpoint_metrics(result)
    (folder / STAGE_FILE).unlink(missing_ok=True)  # the stage is unusable until its new embeddings are all written
    written = {WINDOW_EMBEDDINGS: write_embeddings(voice_encoder, prepared, folder, model)}
    val = {k: v for k, v in outcome["val"].items() if k.startswith("val_") or k == "epoch"}
    return finish(folder, key, {"encoder": voice_encoder.name, "trainable": True, "embedding_dim": voice_encoder.embedding_dim,
                                 "config": config, "epoch": outcome["epoch"], "epochs_trained": outcome["epochs_trained"],
                                 "val": val, "test": outcome["test"], **written})


WINDOW_EMBEDDINGS = "window_embeddings"
"""The voice stage's folder of window-embedding shards, and its record's key for their shard spec (``write_embeddings``)."""
CLIP_EMBEDDINGS = "clip_embeddings.npy"
"""The voice stage's clip embeddings, (C, D) float32: each clip's mean window embedding."""


def write_embeddings(voice_encoder, prepared: PreparedDataset, folder: Path, model=None) -> dict:
    """Embed every window with ``voice_encoder`` and write the embeddings shard by shard
    (``folder/window_embeddings/part-NNNNN.parquet``, one per voice shard of the prepared dataset, the same rows, column
    ``artifacts.EMBEDDING_COLUMN``), and the clip embeddings (their windows' means, summed in float64) as ``CLIP_EMBEDDINGS``;
    one shard's embeddings are held at a time. Returns the shards' spec (for ``batches.ShardLayout.from_spec``)."""
    written = shards.EmbeddingShards(folder, WINDOW_EMBEDDINGS, EMBEDDING_COLUMN)
    clips = ClipMeans(np.asarray(prepared.arrays["window_clip.npy"]), voice_encoder.embedding_dim)
    for part, windows in voice_encoder.checked_shards(prepared, model):
        written.write(part["first"], windows)
        clips.add(part["first"], windows)
    np.save(folder / CLIP_EMBEDDINGS, clips.result())
    return written.spec(voice_encoder.embedding_dim)


def window_layout(run_dir: Path, record: dict):
    """The ``batches.ShardLayout`` of the window embeddings of the voice stage in ``run_dir`` whose record is ``record``;
    a record from before the embedding shards is a one-line UserError."""
    from v2f_bench.data.batches import ShardLayout

    if WINDOW_EMBEDDINGS not in record:
        raise UserError(f"{Path(run_dir) / 'voice'}: a voice stage from before the window-embedding shards; run a command that "
                        "uses it (train, tune or paper with this --run-dir), which embeds its windows again without training")
    return ShardLayout.from_spec(record[WINDOW_EMBEDDINGS], EMBEDDING_COLUMN, Path(run_dir) / "voice")
