"""The stages between ``prepare`` and the generator searches, and running one configuration.

- ``voice_stage``: the window and clip embeddings of one voice encoder (``voice_encoders``): a
  trainable one is trained once (one configuration, through its Ray trainable) and embeds with its
  best checkpoint; a pretrained one embeds directly.
- ``judge_stage``: obtain the judge named by ``JudgeConfig.kind`` from ``judges.registry`` (pretrained,
  or fitted on the train photos), calibrate tau on the validation photos and measure verification on the test photos.
- ``generator_data``: everything a generator trial needs, as one dict for the object store.
- ``run_one``: one trial of a trainable through Ray Tune (the same path a search takes).

Each stage writes into its own folder of a run directory with a ``stage.json`` recording the
key it was computed for (the prepared dataset's cache key and the stage's parameters); a later
call with the same key reuses it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from v2f_bench.artifacts import STAGE_FACE_EMBEDDINGS, STAGE_FACE_LABELS, STAGE_IDENTITIES, STAGE_JUDGE, STAGE_VOICE_EMBEDDINGS, STAGE_VOICE_LABELS
from v2f_bench.data.prepared import PreparedDataset
from v2f_bench.errors import UserError, first_line
from v2f_bench.hashing import sha256_json
from v2f_bench.judge import JudgeConfig, calibrate, pair_verification
from v2f_bench.progress import progress
from v2f_bench.storage import Location, storage_root
from v2f_bench.trainables import TEST_METRICS_FILE, device

STAGE_FILE = "stage.json"
EVAL_UNITS = ("window", "clip")
"""What one validation or test decision of a generator is (``generator_data``)."""
RAY_BOOKKEEPING = {"timestamp", "training_iteration", "time_this_iter_s", "time_total_s", "pid", "time_since_restore",
                   "iterations_since_restore", "done", "should_checkpoint"}
"""Keys Ray adds to every result; not metrics of the trial."""


def _cached(folder: Path, key: str) -> dict | None:
    record = folder / STAGE_FILE
    try:
        content = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) and content.get("key") == key else None


def _finish(folder: Path, key: str, content: dict) -> dict:
    content = {"key": key, **content}
    (folder / STAGE_FILE).write_text(json.dumps(content, indent=1))
    return content


def run_one(trainable, data: dict, config: dict, storage: str | Path, name: str):
    """Run ``config`` as a single Ray Tune trial and return its ``Result``; a failed trial is a one-line error.

    ``storage`` is a local path or a storage URI; on a multi-node cluster it must be shared
    (e.g. ``s3://...``), since the trial may run on another node.
    """
    from ray import tune

    from v2f_bench.parallel import ray_session

    with ray_session("local"):
        try:
            tuner = tune.Tuner(
                tune.with_parameters(trainable, data=data),
                param_space=config,
                tune_config=tune.TuneConfig(num_samples=1),
                run_config=tune.RunConfig(
                    name=name, storage_path=storage_root(storage), verbose=1, checkpoint_config=tune.CheckpointConfig(num_to_keep=1)
                ),
            )
        except OSError as exc:  # Ray creates and test-writes the experiment folder here
            raise UserError(f"{storage}: cannot write the {name} trial's results there ({first_line(exc, type(exc).__name__)}); "
                            "choose a writable --storage / --run-dir or free some space") from None
        result = tuner.fit()[0]
    if result.error is not None:
        raise UserError(f"the {name} trial failed: {str(result.error).strip().splitlines()[-1]} (details in {result.path})")
    return result


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
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder

    voice_encoder = resolve_voice_encoder(encoder, config, audio_root)
    if not voice_encoder.trainable:
        return _pretrained_voice_stage(prepared, run_dir, voice_encoder, config or {})
    trainable, data, config = voice_encoder.training(prepared, config or {})
    folder = Path(run_dir) / "voice"
    cached = _cached(folder, _voice_key(prepared, voice_encoder, config))
    if cached is not None and "epochs_trained" in cached:  # older records paired the last epoch's val with the best epoch's test
        return cached
    staging = Path(run_dir) / ".voice-training"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    trial_storage = str(Location.parse(storage).child("stages")) if storage else staging
    result = run_one(trainable, data, config, trial_storage, "voice_trial")
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
    import time

    if config:
        raise UserError(f"voice encoder {voice_encoder.name!r} is pretrained and takes no voice hyperparameters; drop --voice-config "
                        f"(it had {', '.join(sorted(config))})")
    folder = Path(run_dir) / "voice"
    key = _voice_key(prepared, voice_encoder, {})
    cached = _cached(folder, key)
    if cached is not None:
        return cached
    started = time.time()
    windows, clips = voice_encoder.embed(prepared)
    seconds = time.time() - started
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    np.save(folder / "window_embeddings.npy", windows)
    np.save(folder / "clip_embeddings.npy", clips)
    return _finish(folder, key, {"encoder": voice_encoder.name, "trainable": False, "embedding_dim": voice_encoder.embedding_dim,
                                 "config": {}, "epoch": None, "epochs_trained": 0, "val": {}, "test": {}, "embed_seconds": seconds})


def adopt_voice_trial(prepared: PreparedDataset, run_dir: Path, config: dict, result, encoder: str | None = None) -> dict:
    """Make a finished voice trial (a Ray ``Result`` of a search or of ``voice_stage``) the voice stage:
    copy its checkpoint, export the embeddings of the model it holds, and record it under ``config``'s
    key with that model's epoch and its validation and test metrics. ``encoder`` names the trainable
    encoder the trial trained (default: the one ``config``'s ``variant`` names)."""
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder

    voice_encoder = resolve_voice_encoder(encoder, config)
    if not voice_encoder.trainable:
        raise UserError(f"voice encoder {voice_encoder.name!r} is pretrained: it has no trial to adopt")
    _, _, config = voice_encoder.training(prepared, {k: v for k, v in config.items() if k in voice_encoder.hyperparameters})
    folder = Path(run_dir) / "voice"
    key = _voice_key(prepared, voice_encoder, config)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "best_checkpoint", ignore_errors=True)
    local = Path(result.checkpoint.to_directory(str(folder / "best_checkpoint")))
    model = voice_encoder.load(local)
    outcome = checkpoint_metrics(result)
    windows, clips = voice_encoder.embed(prepared, model)
    np.save(folder / "window_embeddings.npy", windows)
    np.save(folder / "clip_embeddings.npy", clips)
    val = {k: v for k, v in outcome["val"].items() if k.startswith("val_") or k == "epoch"}
    return _finish(folder, key, {"encoder": voice_encoder.name, "trainable": True, "embedding_dim": voice_encoder.embedding_dim,
                                 "config": config, "epoch": outcome["epoch"], "epochs_trained": outcome["epochs_trained"],
                                 "val": val, "test": outcome["test"]})


def checkpoint_metrics(result) -> dict:
    """The model in a finished trial's checkpoint: its epoch, the number of epochs trained, and its
    validation row and test metrics, which thus always describe the same model.

    The checkpoint's ``test_metrics.json`` names the epoch its model comes from (``epoch_of_model``),
    and the validation numbers are the row the trial reported for that epoch. That is not always the
    last reported row (``result.metrics``): when early stopping ends a voice trial, its last
    checkpoint holds the weights of the epoch with the lowest validation loss, which may be several
    epochs before the last one.
    """
    with result.checkpoint.as_directory() as folder:
        test = json.loads((Path(folder) / TEST_METRICS_FILE).read_text())
    last = int(result.metrics["epoch"])
    epoch = int(test.get("epoch_of_model", last))
    history = result.metrics_dataframe
    rows = [] if history is None or "epoch" not in history else history[history["epoch"] == epoch].to_dict("records")
    if not rows:
        raise UserError(f"{result.path}: its results hold no row of epoch {epoch}, the epoch of the model in its checkpoint; "
                        "the trial's result files are incomplete, so train it again")
    row = {k: v.item() if isinstance(v, np.generic) else v for k, v in rows[-1].items()}
    val = {k: v for k, v in row.items() if isinstance(v, int | float) and not isinstance(v, bool) and v == v  # v == v: not NaN
           and k not in RAY_BOOKKEEPING and not k.startswith("config/")}
    return {"epoch": epoch, "epochs_trained": last, "val": val, "test": test}


def judge_stage(prepared: PreparedDataset, run_dir: Path, config: JudgeConfig) -> dict:
    """Obtain and calibrate the judge ``config.kind`` (from ``judges.registry``); returns the stage record.

    A trainable judge is fitted on the train photos; a pretrained one is built as it is. Either way
    tau is calibrated on the validation photos and verification measured on the test photos, real
    photos only. The record names the judge and keeps its curve and test verification; ``judge.pt``
    holds its ``state()``, from which ``generator_data`` lets each generator trial rebuild it.
    """
    from v2f_bench.judges.registry import get_judge

    config.validate()
    folder = Path(run_dir) / "judge"
    key = sha256_json({"prepared": prepared.manifest["cache_key"], "config": config.as_dict()})
    cached = _cached(folder, key)
    if cached is not None and "judge" in cached:  # older records hold no judge name nor state
        return cached
    size = prepared.manifest["params"]["faces"]["judge_size"]
    faces = np.asarray(prepared.faces(size))
    labels = np.asarray(prepared.arrays["photo_label.npy"])
    split = np.asarray(prepared.arrays["photo_split.npy"])
    judge = get_judge(config.kind)(config, device(), input_size=size)
    history = []
    if not judge.pretrained:
        train = split == "train"
        bar = progress(range(config.epochs), f"training the {config.kind} judge", unit="epoch")

        def report(epoch, loss, accuracy):
            history.append({"epoch": epoch, "loss": loss, "accuracy": accuracy})
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.3f}")

        judge.fit(faces[train], labels[train], report=report)
        bar.close()
    embeddings = judge.embed(faces)
    val, test = split == "val", split == "test"
    if np.bincount(labels[val]).max(initial=0) < 2:
        raise UserError("the validation split has no two photos of one identity to calibrate tau on; add photos or raise the val fraction (--split-fractions)")
    calibration = calibrate(embeddings[val], labels[val], config.distance, config.criterion, config.tau_step)
    verification = pair_verification(embeddings[test], labels[test], calibration.tau, config.distance)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    torch.save(judge.state(), folder / "judge.pt")
    np.save(folder / "photo_embeddings.npy", embeddings.numpy())
    return _finish(folder, key, {"judge": judge.name, "config": config.as_dict(), "crop_size": size, "input_size": judge.input_size,
                                 "embedding_dim": int(embeddings.shape[1]), "training": history,
                                 "calibration": calibration.as_dict(), "test_verification": verification})


def generator_data(prepared: PreparedDataset, run_dir: Path, voice: dict, judge: dict, eval_unit: str = "window",
                   gallery: dict | None = None) -> dict:
    """Everything a generator trial reads, from the prepared dataset and the two stages' outputs.

    ``eval_unit`` says what one validation or test decision is: a ``window`` (one generated face per
    voice window, as the authors' code evaluated: 453 test decisions on the default data) or a
    ``clip`` (one face from the clip's mean window embedding: 36). A split protocol that splits
    windows rather than clips (``paper-code``) has no clip-level split, so it is evaluated per window.

    The judge travels as its name and ``state()``; ``judges`` is the judge registry as the driver
    knows it (as ``families`` is for families), so a judge registered at run time reaches the workers.
    ``gallery`` ({"size": G, "draws": R}, default ``metrics.GALLERY_SIZE`` and ``GALLERY_DRAWS``) sets
    the drawn galleries of ``gallery_recall@K`` (``metrics.gallery_recall``).
    """
    if eval_unit not in EVAL_UNITS:
        raise UserError(f"--eval-unit {eval_unit!r}: choose one of {', '.join(EVAL_UNITS)}")
    run_dir = Path(run_dir)
    clips = prepared.manifest["clips"]
    label_of = {row["voice_id"]: row["label"] for row in prepared.manifest["identities"]}
    from v2f_bench.judges.registry import JUDGES
    from v2f_bench.models.registry import FAMILIES

    windows = np.load(run_dir / "voice" / "window_embeddings.npy")
    window_label = np.asarray(prepared.arrays["window_label.npy"])
    window_split = np.asarray(prepared.arrays["window_split.npy"])
    clip_split = np.array([c["split"] for c in clips])
    if eval_unit == "window" or (clip_split == "mixed").any():
        eval_unit, eval_emb, eval_label, eval_split = "window", windows, window_label, window_split
    else:
        eval_emb = np.load(run_dir / "voice" / "clip_embeddings.npy")
        eval_label, eval_split = np.array([label_of[c["voice_id"]] for c in clips]), clip_split
    return {
        "families": dict(FAMILIES),
        "voice_emb": windows,
        "window_label": window_label,
        "window_split": window_split,
        "clip_emb": eval_emb,
        "clip_label": eval_label,
        "clip_split": eval_split,
        "eval_unit": eval_unit,
        "gallery": gallery_settings(gallery),
        "faces": np.asarray(prepared.faces(64)),
        "photo_label": np.asarray(prepared.arrays["photo_label.npy"]),
        "photo_split": np.asarray(prepared.arrays["photo_split.npy"]),
        "judges": dict(JUDGES),
        "judge": {
            "name": judge["judge"],
            "state": torch.load(run_dir / "judge" / "judge.pt", map_location="cpu", weights_only=True),
            "tau": judge["calibration"]["tau"],
            "distance": judge["calibration"]["distance"],
            "photo_emb": np.load(run_dir / "judge" / "photo_embeddings.npy"),
        },
    }


def gallery_settings(gallery: dict | None = None) -> dict:
    """{"size": G, "draws": R} of the drawn Recall@K galleries, defaults filled in; a bad value is a one-line UserError."""
    from v2f_bench.metrics import GALLERY_DRAWS, GALLERY_SIZE

    settings = {"size": GALLERY_SIZE, "draws": GALLERY_DRAWS, **(gallery or {})}
    unknown = sorted(set(settings) - {"size", "draws"})
    if unknown:
        raise UserError(f"gallery settings: unknown {', '.join(unknown)}; accepted: size, draws")
    for key, least in (("size", 2), ("draws", 1)):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserError(f"--gallery-{key} {value!r}: must be an integer of at least {least}")
    return settings


def train_voice_once(prepared: PreparedDataset, run_dir: Path, config: dict, voice_encoder: str | None = None) -> dict:
    """``v2f-bench train voice``: one voice configuration of a trainable encoder; returns its validation and test metrics."""
    from v2f_bench.targets import voice_target
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder

    chosen = resolve_voice_encoder(voice_encoder, config)
    voice_target(chosen.name).check(config)
    record = voice_stage(prepared, run_dir, config, encoder=chosen.name)
    return {"target": "voice", "config": record["config"], "epoch": record["epoch"], "epochs_trained": record["epochs_trained"],
            "val": record["val"], "test": record["test"]}


def train_generator_once(
    prepared: PreparedDataset, run_dir: Path, family: str, config: dict, voice_config: dict, judge: JudgeConfig, storage: str | None = None,
    eval_unit: str = "window", voice_encoder: str | None = None, audio_root: Path | None = None, gallery: dict | None = None,
) -> dict:
    """``v2f-bench train FAMILY``: the voice and judge stages (reused when cached), then one generator trial."""
    from v2f_bench.targets import get_target
    from v2f_bench.trainables import train_generator

    target = get_target(family)
    if target.role != "generator":
        raise UserError(f"{family!r} is not a generator family; train_generator_once trains one of the registered families")
    target.check(config)
    voice = voice_stage(prepared, run_dir, voice_config, storage, voice_encoder, audio_root)
    judge_record = judge_stage(prepared, run_dir, judge)
    data = generator_data(prepared, run_dir, voice, judge_record, eval_unit, gallery)
    trials = str(Location.parse(storage).child("trials")) if storage else Path(run_dir) / "trials"
    result = run_one(train_generator, data, {**config, "family": family}, trials, f"train_{family}")
    return {"target": family, "config": result.config, **checkpoint_metrics(result),
            "judge": {"name": judge_record["judge"], "tau": judge_record["calibration"]["tau"]},
            "voice": voice["test"], "voice_encoder": voice["encoder"], "path": result.path}


def format_trial(outcome: dict) -> str:
    """One trained configuration's metrics as aligned text, grouped as the paper's tables, validation beside test."""
    from v2f_bench.metrics import METRICS

    lines = [f"{outcome['target']}: " + ", ".join(f"{k}={v}" for k, v in sorted(outcome["config"].items()))]
    epoch, trained = outcome["epoch"], outcome["epochs_trained"]
    kept = "the last" if epoch == trained else "the best on validation"
    lines.append(f"  model of epoch {epoch} ({kept} of {trained} trained): val and test below both describe it")
    names = sorted({key.split("_", 1)[1] for part in ("val", "test") for key in outcome[part] if "_" in key and key.split("_", 1)[0] in ("val", "test")})
    groups = {"Table I": "I", "Table II": "II", "identity (beyond the paper)": "identity"}
    lines.append(f"  {'metric':<28}{'val':>12}{'test':>12}")
    for title, table in groups.items():
        members = [n for n in names if n in METRICS and METRICS[n].table == table]
        if members:
            lines.append(f"  {title}")
        for name in members:
            cells = [outcome[part].get(f"{part}_{name}") for part in ("val", "test")]
            lines.append(f"    {name:<26}" + "".join(f"{c:>12.4f}" if isinstance(c, float) else f"{'-':>12}" for c in cells))
    others = [n for n in names if n not in METRICS]
    for name in others:
        cells = [outcome[part].get(f"{part}_{name}") for part in ("val", "test")]
        lines.append(f"    {name:<26}" + "".join(f"{c:>12.4f}" if isinstance(c, float) else f"{'-':>12}" for c in cells))
    from v2f_bench.compute import COMPUTE_KEYS, compute_line

    losses = {k: v for k, v in outcome["val"].items() if not k.startswith("val_") and k != "epoch" and k not in COMPUTE_KEYS}
    if all(key in outcome["val"] for key in COMPUTE_KEYS):
        lines.append(f"  compute to epoch {epoch}: {compute_line(outcome['val'])}")
    if losses:
        lines.append(f"  epoch {epoch} training: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(losses.items())))
    if "path" in outcome:
        lines.append(f"  trial directory: {outcome['path']}")
    return "\n".join(lines)


def search_setup(
    target: str, space_file: Path, prepared: PreparedDataset, run_dir: Path, voice_config: dict, judge: JudgeConfig, storage: str | None = None,
    eval_unit: str = "window", voice_encoder: str | None = None, audio_root: Path | None = None, gallery: dict | None = None,
):
    """The trainable, its shared data and the checked space of a search on ``target`` (stages run on ``storage``).

    ``voice_encoder`` names the encoder a voice search trains (a trainable one) or whose embeddings a
    generator search uses; the search record names it (``voice_encoder``, and in ``voice_stage``).
    ``gallery`` as ``generator_data``'s."""
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder
    from v2f_bench.search import SearchSetup
    from v2f_bench.search_space import load_target_space
    from v2f_bench.trainables import judge_data, train_generator, train_judge_trial

    space = load_target_space(target, space_file, voice_encoder)
    key = prepared.manifest["cache_key"]
    if target == "voice":
        chosen = resolve_voice_encoder(voice_encoder, voice_config)  # trainable: load_target_space refused a pretrained one
        trainable, data, _ = chosen.training(prepared, {})
        return SearchSetup(target, trainable, data, space, key, {"voice_encoder": chosen.name}, fixed=chosen.search_fixed())
    if target == "judge":
        return SearchSetup(target, train_judge_trial, judge_data(prepared), space, key)
    voice = voice_stage(prepared, run_dir, voice_config, storage, voice_encoder, audio_root)
    judge_record = judge_stage(prepared, run_dir, judge)
    extra = {"voice_encoder": voice["encoder"],
             "voice_stage": {"encoder": voice["encoder"], "embedding_dim": voice["embedding_dim"], "config": voice["config"], "test": voice["test"]},
             "judge_stage": {"judge": judge_record["judge"], "config": judge_record["config"], "tau": judge_record["calibration"]["tau"],
                             "test_verification": judge_record["test_verification"]}}
    data = generator_data(prepared, run_dir, voice, judge_record, eval_unit, gallery)
    extra["eval_unit"] = data["eval_unit"]
    extra["gallery"] = data["gallery"]
    return SearchSetup(target, train_generator, data, space, key, extra, stage_artifacts(prepared, data, judge_record))


def stage_artifacts(prepared: PreparedDataset, data: dict, judge_record: dict) -> dict:
    """What the report draws from the stages (t-SNE of voice and face embeddings, the tau curve),
    copied beside each generator search."""
    return {
        STAGE_VOICE_EMBEDDINGS: data["clip_emb"],
        STAGE_VOICE_LABELS: data["clip_label"],
        STAGE_FACE_EMBEDDINGS: data["judge"]["photo_emb"],
        STAGE_FACE_LABELS: data["photo_label"],
        STAGE_JUDGE: {"judge": judge_record["judge"], "calibration": judge_record["calibration"],
                       "test_verification": judge_record["test_verification"], "config": judge_record["config"]},
        STAGE_IDENTITIES: {"identities": prepared.manifest["identities"]},
    }
