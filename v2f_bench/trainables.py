"""Ray Tune function trainables: one for the voice classifier, one for any generator family.

Ray's contract and nothing more: hyperparameters come only from ``config``; each epoch ends with
``ray.tune.report(flat_metrics, checkpoint=...)``; a restarted trial resumes from
``ray.tune.get_checkpoint()``. The prepared arrays arrive once through the object store
(``tune.with_parameters(fn, data=...)``), never re-read per trial. Trials are seeded (Python,
numpy, torch) from ``config["seed"]`` and use CUDA when present.

A diverging trial (a NaN or infinite loss) raises ``TrialDiverged``, so Ray records it as an errored
trial and Optuna as failed; reporting NaN instead would leave the Optuna trial running forever
(REFERENCE.md section 4).

Test-split metrics of the model in each checkpoint are written to ``test_metrics.json`` inside that
checkpoint, never reported as metrics: nothing can select on test data, and whichever checkpoint a
report selects on validation metrics (the best epoch, or the last of a trial ASHA stopped) carries
its own test values and names the epoch its model comes from (``epoch_of_model``). The voice
classifier's final checkpoint holds its best epoch's weights, so its validation numbers are the row
reported for that epoch, not the last row (``stages.checkpoint_metrics`` pairs them).
"""

from __future__ import annotations

import functools
import json
import math
import random
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from v2f_bench import metrics
from v2f_bench.compute import PRECISIONS
from v2f_bench.hyperparameters import Hyper, check_config
from v2f_bench.judge import CRITERIA, DISTANCES, JudgeConfig
from v2f_bench.models.voice_cnn import VARIANTS
from v2f_bench.artifacts import DIVERGED_FILE, SAMPLE_GENERATED, SAMPLE_LABELS, SAMPLE_TARGETS, STATE_FILE, TEST_METRICS_FILE


VOICE_HYPERS: dict[str, Hyper] = {
    "variant": Hyper("paper-text", "the CNN as the paper's text or the authors' code describes it (set by the voice encoder)", VARIANTS),
    "lr": Hyper(1e-3, "Adam learning rate (paper: 1e-3)", minimum=0.0, exclusive=True),
    "batch_size": Hyper(32, "windows per step (authors' code: 32)", minimum=1),
    "max_epochs": Hyper(50, "most epochs to train (authors' code: 50); set by a search's budget", minimum=1),
    "patience": Hyper(3, "epochs without a lower validation loss before stopping (authors' code: 1)", minimum=1),
    "seed": Hyper(0, "seeds Python, numpy and torch; set by a search", minimum=0),
}
"""The paper CNN's voice-classifier hyperparameters (paper: Adam 1e-3, early stopping; code: batch 32, <= 50 epochs).

Early stopping follows Keras: training stops after ``patience`` epochs without a lower validation
loss, and the best epoch's weights are kept. The authors' code used patience 1; on the synthetic
default that stopped after 4 epochs at 64 % test clip accuracy, while 3 stopped after 9 at 92 %
(chance: 11 %), so 3 is the default (set ``patience: 1`` to reproduce the code)."""

VOICE_OBJECTIVE = ("val_clip_accuracy", "max")
"""What a voice search selects by: the share of validation clips whose mean window logits name their speaker (higher is better)."""

TARGET_CHOICES = ("seeded", "last")
PAIRING_CHOICES = ("target", "all-faces")

GENERATOR_HYPERS: dict[str, Hyper] = {
    "batch_size": Hyper(64, "voice windows per step", minimum=1),
    "max_epochs": Hyper(20, "epochs to train; set by a search's budget", minimum=1),
    "target": Hyper("seeded", "which photo of an identity is its target face: one drawn per seed, or the last", TARGET_CHOICES),
    "pairing": Hyper("target", "a voice trains against its identity's target face, or against every face of the identity", PAIRING_CHOICES),
    "precision": Hyper("fp32", "fp32, or bf16 autocast of the training step (evaluation stays float32, see compute.autocast)", PRECISIONS),
    "channels_last": Hyper(False, "networks and face batches in NHWC memory layout"),
    "seed": Hyper(0, "seeds Python, numpy and torch; set by a search", minimum=0),
}
"""Generic generator-trial settings, beside the family's own (``GeneratorFamily.defaults``) in the same flat config."""

GENERATOR_OBJECTIVE = ("val_verification_accuracy", metrics.METRICS["verification_accuracy"].mode)
"""What a generator search selects by unless its space file says otherwise: Table I on the validation units."""


class TrialDiverged(RuntimeError):
    """A loss became NaN or infinite; the trial ends as failed."""


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _report(metrics_row: dict, state: dict, extra_files: dict[str, dict] | None = None, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Report one epoch with a checkpoint; ``node_id`` records where the trial ran (multi-node runs).

    ``extra_files`` are written as JSON and ``arrays`` as ``.npy`` (no pickle) beside the state.
    """
    import ray
    from ray import tune

    metrics_row = {**metrics_row, "node_id": ray.get_runtime_context().get_node_id()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / STATE_FILE)
        for name, content in (extra_files or {}).items():
            (Path(tmp) / name).write_text(json.dumps(content, indent=1))
        for name, array in (arrays or {}).items():
            np.save(Path(tmp) / name, array, allow_pickle=False)
        tune.report(metrics_row, checkpoint=tune.Checkpoint.from_directory(tmp))


def _restore() -> dict | None:
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)


def fails_once_on_divergence(trainable):
    """Make a diverged trial stay failed when Ray retries it.

    Ray's ``FailureConfig`` retries every errored trial from its last checkpoint, which is right
    for a crashed worker but only repeats a divergence (same checkpoint, same seed). The first
    divergence leaves ``diverged.txt`` in the trial directory; a retry finds it and fails at once
    with the original reason.

    The marker goes straight to the trial's directory in the experiment's storage (a local path or
    a URI), which every attempt on every node sees. The session's ``get_trial_dir()`` is a node-local
    staging folder that is not the same between attempts: Ray 2.60 gives a function trainable
    ``driver_artifacts/<trial>`` on a fresh actor but ``working_dirs/<trial>`` on an actor reused from
    another trial (``reuse_actors``), so a marker left there by an attempt on a reused actor was missed
    by its retry on a fresh one, and the diverged trial was rerun from its checkpoint.
    """

    @functools.wraps(trainable)
    def wrapped(config: dict, data: dict) -> None:
        trial = _trial_storage()
        if trial is not None:
            reason = trial.read_text(DIVERGED_FILE)
            if reason is not None:
                raise TrialDiverged(f"{reason} (not retried: a retry would diverge the same way)")
        try:
            trainable(config, data)
        except TrialDiverged as exc:
            if trial is not None:
                try:  # best effort: a marker that cannot be written must not hide the divergence itself
                    trial.write_bytes(DIVERGED_FILE, str(exc).encode())
                except OSError:
                    pass
            raise

    return wrapped


def _trial_storage():
    """The trial's folder in the experiment's storage (a ``storage.Location``); None outside Ray Tune."""
    from ray import tune

    from v2f_bench.storage import Location

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = tune.get_context().get_storage()
    if storage is None:
        return None
    return Location(storage.storage_filesystem, storage.trial_fs_path.rstrip("/"))


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor view of an object-store array, without a copy.

    Arrays from Ray's object store are read-only; torch warns about that because it cannot
    protect them from writes. Trainables only read them, and copying would give every
    concurrent trial its own copy of the prepared data.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array)


def _finite_or_raise(values: dict[str, float], where: str) -> None:
    bad = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        raise TrialDiverged(f"{where}: non-finite values {bad}; the trial diverged (try a lower learning rate)")


# ----------------------------------------------------------------------------- voice classifier


def voice_data(prepared) -> dict:
    """The arrays the voice trainable needs, from a ``PreparedDataset``.

    ``split`` is the voice classifier's own split (``PreparedDataset.voice_split``): the window split,
    except under the identity-disjoint protocols (``unseen``, ``wen``, ``sf2f``), where it trains,
    early-stops and is tested on disjoint clips of the train identities only (a closed-set classifier cannot be validated on identities it never saw).
    """
    return {
        "features": np.ascontiguousarray(prepared.voice_features),
        "labels": np.asarray(prepared.arrays["window_label.npy"]),
        "split": prepared.voice_split(),
        "clip": np.asarray(prepared.arrays["window_clip.npy"]),
        "n_classes": len(prepared.manifest["identities"]),
    }


@fails_once_on_divergence
def train_voice(config: dict, data: dict) -> None:
    """Ray Tune trainable: the voice classifier. Reports train/val accuracy each epoch."""
    for row, state, extra in voice_epochs(config, data, _restore()):
        _report(row, state, extra)


def voice_epochs(config: dict, data: dict, state: dict | None = None) -> Iterator[tuple[dict, dict, dict]]:
    """The voice classifier's training, resumed from a checkpoint ``state`` when given: yields
    (metrics row, checkpoint state, extra checkpoint files) after each epoch and stops early when
    validation loss has not improved for ``patience`` epochs. ``train_voice`` reports each yield to
    Ray Tune; loops outside Tune (benchmarks/search.py) iterate it directly."""
    from v2f_bench.models.voice_cnn import VoiceCNN

    settings = check_config(VOICE_HYPERS, config, "voice")
    seed_everything(settings["seed"])
    dev = device()
    model = VoiceCNN(data["n_classes"], variant=settings["variant"]).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    progress = {"epoch": 0, "best_val_loss": math.inf, "stale": 0, "best_model": None}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        progress = {k: state[k] for k in progress}
    x = shared_tensor(data["features"])
    y = shared_tensor(data["labels"]).long()
    train = np.flatnonzero(data["split"] == "train")
    val = np.flatnonzero(data["split"] == "val")
    for epoch in range(progress["epoch"] + 1, settings["max_epochs"] + 1):
        order = torch.as_tensor(train)[torch.randperm(len(train), generator=torch.Generator().manual_seed(settings["seed"] * 1000 + epoch))]
        train_loss, train_acc = _voice_epoch(model, optimizer, x, y, order, settings, dev)
        val_loss, val_acc, val_clip_acc = voice_evaluate(model, x, y, shared_tensor(data["clip"]), val, dev)
        row = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
               "val_accuracy": val_acc, "val_clip_accuracy": val_clip_acc}
        _finite_or_raise(row, f"voice epoch {epoch}")
        improved = val_loss < progress["best_val_loss"]
        progress.update(epoch=epoch, best_val_loss=min(val_loss, progress["best_val_loss"]), stale=0 if improved else progress["stale"] + 1)
        if improved:
            progress["best_model"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        finished = progress["stale"] >= settings["patience"] or epoch == settings["max_epochs"]
        if finished:
            model.load_state_dict(progress["best_model"])
        test = np.flatnonzero(data["split"] == "test")
        _, test_acc, test_clip_acc = voice_evaluate(model, x, y, shared_tensor(data["clip"]), test, dev)
        model_epoch = epoch - progress["stale"] if finished else epoch
        extra = {TEST_METRICS_FILE: {"test_accuracy": test_acc, "test_clip_accuracy": test_clip_acc, "epoch_of_model": model_epoch}}
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), **progress,
                 "variant": settings["variant"], "n_classes": data["n_classes"]}
        yield row, state, extra
        if finished:
            return


def _voice_epoch(model, optimizer, x, y, order, settings, dev) -> tuple[float, float]:
    model.train()
    total, correct, loss_sum = 0, 0, 0.0
    for start in range(0, len(order), settings["batch_size"]):
        index = order[start : start + settings["batch_size"]]
        xb, yb = x[index].to(dev), y[index].to(dev)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb) + model.l2_penalty()
        if not torch.isfinite(loss):
            raise TrialDiverged(f"voice classifier loss became {loss.item()}; the trial diverged (try a lower learning rate)")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += len(index)
        correct += int((logits.argmax(1) == yb).sum())
        loss_sum += loss.item() * len(index)
    return loss_sum / max(total, 1), correct / max(total, 1)


@torch.no_grad()
def voice_evaluate(model, x, y, clip, index, dev, batch_size: int = 512) -> tuple[float, float, float]:
    """(mean window loss, window accuracy, clip accuracy) on the windows ``index``.

    Clip accuracy: the clip's class is the argmax of its windows' summed log-probabilities.
    """
    model.eval()
    if len(index) == 0:
        return math.nan, math.nan, math.nan
    index = torch.as_tensor(index)
    logp = torch.cat([F.log_softmax(model(x[index[i : i + batch_size]].to(dev)), 1).cpu() for i in range(0, len(index), batch_size)])
    labels = y[index]
    loss = float(F.nll_loss(logp, labels))
    window_acc = float((logp.argmax(1) == labels).float().mean())
    clips, inverse = torch.unique(clip[index], return_inverse=True)
    summed = torch.zeros(len(clips), logp.shape[1]).index_add_(0, inverse, logp)
    clip_label = torch.zeros(len(clips), dtype=torch.long).index_copy_(0, inverse, labels)
    clip_acc = float((summed.argmax(1) == clip_label).float().mean())
    return loss, window_acc, clip_acc


def load_voice_model(checkpoint_dir: Path):
    from v2f_bench.models.voice_cnn import VoiceCNN

    state = torch.load(Path(checkpoint_dir) / STATE_FILE, map_location="cpu", weights_only=True)
    model = VoiceCNN(state["n_classes"], variant=state["variant"])
    model.load_state_dict(state["best_model"] or state["model"])
    return model.eval()


# ----------------------------------------------------------------------------- generators


@fails_once_on_divergence
def train_generator(config: dict, data: dict) -> None:
    """Ray Tune trainable for any registered generator family: reports each epoch of ``generator_epochs``."""
    from v2f_bench.compute import trial_resources

    started = time.perf_counter()
    cpus, gpus = trial_resources()
    torch.set_num_threads(max(1, int(cpus)))  # as many torch threads as the CPUs the trial holds, whatever Ray's worker had before
    for row, state, extra, arrays in generator_epochs(config, data, _restore(), (cpus, gpus), started):
        _report(row, state, extra, arrays)


def generator_epochs(config: dict, data: dict, state: dict | None = None, resources: tuple[float, float] = (1.0, 0.0),
                     started: float | None = None):
    """A generator family's training, resumed from a checkpoint ``state`` when given: yields
    (metrics row, checkpoint state, extra checkpoint files, sample-face arrays) after each epoch.

    ``train_generator`` reports each yield to Ray Tune; loops outside Tune (benchmarks, GPU checks)
    iterate it directly. ``data`` (see ``stages.generator_data``): the family registry as the driver
    knew it (so that families registered at run time reach the workers), window voice embeddings
    with labels and splits, the evaluation embeddings (one per test window or per clip, ``eval_unit``)
    with labels and splits, the 64x64 real faces with labels and splits, the judge registry, and the
    judge (its name and ``state()``, tau, distance, and its embedding of every real photo); the judge's
    name goes into every checkpoint's ``test_metrics.json``. ``resources`` are the
    (CPUs, GPUs) the trial holds, for its resource-seconds, held since ``started`` (a
    ``time.perf_counter`` value; default: this call).

    Each row holds the epoch's losses, Table I accuracy, the identity metrics and Table II on the
    validation units, and the cumulative compute (``compute.ComputeMeter``: ``train_flops``,
    ``train_steps``, ``images_seen``, ``cpu_s``, ``gpu_s``).
    """
    from v2f_bench.compute import ComputeMeter, training_step
    from v2f_bench.targets import generator_target

    config = dict(config)
    name = config.pop("family", None)
    if name not in data["families"]:
        raise ValueError(f"a generator trial's config must name its family, one of {', '.join(sorted(data['families']))}; got {name!r}")
    family_class = data["families"][name]
    checked = generator_target(family_class).check(config)
    settings = {"family": name, **{k: checked[k] for k in GENERATOR_HYPERS}}
    seed_everything(settings["seed"])
    dev = device()
    family = family_class({k: checked[k] for k in family_class.defaults}, embed_dim=data["voice_emb"].shape[1], image_size=64, device=dev)
    memory = torch.channels_last if settings["channels_last"] else torch.contiguous_format
    for net in family.networks.values():
        net.to(memory_format=memory)
    judge = _judge_from(data, dev)
    targets = choose_targets(data["photo_label"], data["photo_split"], settings["target"], settings["seed"])
    start_epoch = 0
    if state is not None:
        family.load_state_dict(state["family"])
        torch.set_rng_state(state["rng"])
        start_epoch = state["epoch"]
    meter = ComputeMeter(*resources, state=(state or {}).get("compute"), started=started)
    faces = shared_tensor(data["faces"]).permute(0, 3, 1, 2).float() / 255.0
    voice = shared_tensor(data["voice_emb"]).float()
    train = np.flatnonzero(data["window_split"] == "train")
    photo_pool = _photo_pool(data, settings["pairing"])
    step = training_step(family, settings["precision"], memory, dev)
    for epoch in range(start_epoch + 1, settings["max_epochs"] + 1):
        generator = torch.Generator().manual_seed(settings["seed"] * 1000 + epoch)
        order = torch.as_tensor(train)[torch.randperm(len(train), generator=generator)]
        losses = _generator_epoch(step, meter, voice, faces, data["window_label"], order, targets, photo_pool, settings["batch_size"], generator)
        row = {"epoch": epoch, **losses, **evaluate_generator(family, judge, data, faces, targets, "val", dev)}
        _finite_or_raise(row, f"{settings['family']} epoch {epoch}")
        test = evaluate_generator(family, judge, data, faces, targets, "test", dev)
        decisions = int((np.asarray(data["clip_split"]) == "test").sum())
        extra = {TEST_METRICS_FILE: {**test, "test_decisions": decisions, "test_unit": data.get("eval_unit", "clip"), "epoch_of_model": epoch,
                                     "judge": data["judge"]["name"]}}
        arrays = sample_faces(family, data, faces, targets, dev)
        state = {"family": family.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch, "family_name": settings["family"],
                 "compute": meter.state()}
        yield {**row, **meter.row()}, state, extra, arrays


@torch.no_grad()
def sample_faces(family, data: dict, faces, targets, dev) -> dict[str, np.ndarray]:
    """Faces for the paper's Fig. 10: from the first test clip of every identity, the generated face
    and the identity's target face, as uint8 (K, 64, 64, 3), saved in every checkpoint."""
    split, labels = np.asarray(data["clip_split"]), np.asarray(data["clip_label"])
    first = [np.flatnonzero((split == "test") & (labels == c))[:1] for c in np.unique(labels)]
    index = np.concatenate(first).astype(int)
    if len(index) == 0:
        return {}
    generated = family.generate(torch.as_tensor(data["clip_emb"][index]).float().to(dev)).cpu()
    return {SAMPLE_GENERATED: _to_uint8(generated), SAMPLE_TARGETS: _to_uint8(faces[targets[labels[index]]]), SAMPLE_LABELS: labels[index]}


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(K, 3, H, W) in [0, 1] -> (K, H, W, 3) uint8."""
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def choose_targets(photo_label, photo_split, rule: str, seed: int) -> np.ndarray:
    """One target photo per identity among its train photos: seeded random (paper text) or the last one (authors' code)."""
    labels = np.asarray(photo_label)
    rng = np.random.default_rng(seed)
    targets = []
    for label in range(int(labels.max()) + 1):
        candidates = np.flatnonzero((labels == label) & (np.asarray(photo_split) == "train"))
        if len(candidates) == 0:
            candidates = np.flatnonzero(labels == label)
        targets.append(candidates[-1] if rule == "last" else rng.choice(candidates))
    return np.asarray(targets)


def _photo_pool(data: dict, pairing: str) -> list[np.ndarray] | None:
    if pairing != "all-faces":
        return None
    labels, split = np.asarray(data["photo_label"]), np.asarray(data["photo_split"])
    return [np.flatnonzero((labels == c) & (split == "train")) for c in range(int(labels.max()) + 1)]


def _generator_epoch(step, meter, voice, faces, window_label, order, targets, photo_pool, batch_size, generator) -> dict[str, float]:
    """One pass over the training windows in ``order``; returns the mean of each loss over its steps.

    A batch pairs each window's voice embedding with its identity's target photo (or a random train
    photo of the identity, ``pairing: all-faces``); a last batch of one window is skipped (batch norm
    needs two). Every step goes through ``meter`` (its FLOPs, steps and images)."""
    sums: dict[str, float] = {}
    steps = 0
    labels = np.asarray(window_label)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size].numpy()
        if len(index) < 2:
            continue
        batch_labels = labels[index]
        if photo_pool is None:
            photo_index = targets[batch_labels]
        else:
            picks = torch.randint(0, 2**31 - 1, (len(index),), generator=generator).numpy()
            photo_index = np.array([photo_pool[c][p % len(photo_pool[c])] for c, p in zip(batch_labels, picks)])
        try:
            losses = meter.step(len(index), lambda: step(voice[index], faces[photo_index]))
        except FloatingPointError as exc:
            raise TrialDiverged(str(exc)) from None
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value
        steps += 1
    return {key: value / max(steps, 1) for key, value in sums.items()}


def _judge_from(data: dict, dev):
    """The judge of the judge stage, rebuilt from its ``state()`` by its class in the registry the driver sent."""
    name = data["judge"]["name"]
    if name not in data["judges"]:
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(sorted(data['judges']))}")
    return data["judges"][name].from_state(data["judge"]["state"], dev)


@torch.no_grad()
def evaluate_generator(family, judge, data: dict, faces, targets, split: str, dev) -> dict[str, float]:
    """Table I, identity and Table II metrics of faces generated from the ``split`` clips' voice embeddings.

    One face per clip (from the clip's mean window embedding). Table I compares its judge embedding
    with the identity's target face at the calibrated tau; the identity metrics compare it with
    the per-identity mean embedding of the same split's real photos (the gallery: no photo the
    generator trained on, and it works for identity-disjoint splits), over all of the split's
    identities (``top1``, ``recall@K``) and over drawn galleries of ``data["gallery"]["size"]``
    identities, ``["draws"]`` per face, seed 0 so every epoch and trial meets the same galleries
    (``gallery_recall@K``, with ``gallery_size``, ``gallery_draws`` and ``gallery_identities`` for the
    chance level K / G); Table II compares pixels with the identity's target face.
    ``judge`` (a ``judges.base.Judge``) resizes the 64-px faces itself.
    """
    index = np.flatnonzero(np.asarray(data["clip_split"]) == split)
    if len(index) == 0:
        return {}
    labels = np.asarray(data["clip_label"])[index]
    generated = family.generate(torch.as_tensor(data["clip_emb"][index]).float().to(dev)).cpu()
    emb = judge.embed(generated)
    photo_emb = shared_tensor(data["judge"]["photo_emb"])
    target_emb = photo_emb[targets[labels]]
    in_split = np.flatnonzero(np.asarray(data["photo_split"]) == split)
    gallery, gallery_labels = photo_emb[in_split], np.asarray(data["photo_label"])[in_split]
    row = {
        f"{split}_verification_accuracy": metrics.verification_accuracy(emb, target_emb, data["judge"]["tau"], data["judge"]["distance"]),
        f"{split}_matching_1to2": metrics.matching_1to2(emb, labels, gallery, gallery_labels),
        f"{split}_mean_cosine": metrics.mean_cosine(emb, labels, gallery, gallery_labels),
    }
    row.update({f"{split}_{k}": v for k, v in metrics.identification(emb, labels, gallery, gallery_labels).items()})
    drawn = data.get("gallery", {})
    row.update({f"{split}_{k}": v for k, v in metrics.gallery_recall(
        emb, labels, gallery, gallery_labels, size=drawn.get("size", metrics.GALLERY_SIZE), draws=drawn.get("draws", metrics.GALLERY_DRAWS)).items()})
    row.update({f"{split}_{k}": v for k, v in metrics.image_quality(generated, faces[targets[labels]]).items()})
    return row


# ----------------------------------------------------------------------------- judge


SEARCHED_JUDGE = "trained"
"""The judge whose hyperparameters ``train_judge_trial`` searches (``judges.facenet.TrainedFacenet``)."""
JUDGE_HYPERS: dict[str, Hyper] = {
    "lr": Hyper(JudgeConfig.lr, "Adam learning rate of the identity classifier", minimum=0.0, exclusive=True),
    "batch_size": Hyper(JudgeConfig.batch_size, "photos per step", minimum=1),
    "max_epochs": Hyper(JudgeConfig.epochs, "epochs to train (JudgeConfig.epochs); set by a search's budget", minimum=1),
    "distance": Hyper(JudgeConfig.distance, "what tau thresholds: l2 (the paper's text) or sq_l2 (the authors' code)", DISTANCES),
    "criterion": Hyper(JudgeConfig.criterion, "how tau is chosen on validation pairs: accuracy (text) or f1 (code)", CRITERIA),
    "tau_step": Hyper(JudgeConfig.tau_step, "spacing of tau's grid", minimum=0.0, exclusive=True),
    "seed": Hyper(JudgeConfig.seed, "seeds Python, numpy and torch; set by a search", minimum=0),
}
"""What a judge trial takes: ``JudgeConfig`` fields, with their defaults (``max_epochs`` is its ``epochs``)."""

JUDGE_OBJECTIVE = ("val_verification_accuracy", "max")
"""What a judge search selects by: verification accuracy of validation photo pairs at the tau chosen there (higher is better)."""


def judge_data(prepared) -> dict:
    """The arrays the judge trainable needs: the judge-size crops with labels and splits."""
    size = prepared.manifest["params"]["faces"]["judge_size"]
    return {
        "faces": np.asarray(prepared.faces(size)),
        "labels": np.asarray(prepared.arrays["photo_label.npy"]),
        "split": np.asarray(prepared.arrays["photo_split.npy"]),
    }


@fails_once_on_divergence
def train_judge_trial(config: dict, data: dict) -> None:
    """Ray Tune trainable: the ``trained`` judge (``judges.facenet``), the one judge with hyperparameters to search. Each epoch: calibrate tau on the validation photos and
    report the validation verification accuracy and F1 there; the test-photo verification at the
    final tau goes to ``test_metrics.json``."""
    from v2f_bench.judge import calibrate, pair_verification
    from v2f_bench.judges.facenet import FacenetTrainer, embed_with

    settings = check_config(JUDGE_HYPERS, config, "judge")
    judge_config = JudgeConfig(kind=SEARCHED_JUDGE, epochs=settings.pop("max_epochs"), **settings)
    seed_everything(judge_config.seed)
    dev = str(device())
    train, val, test = (np.flatnonzero(data["split"] == s) for s in ("train", "val", "test"))
    trainer = FacenetTrainer(data["faces"][train], data["labels"][train], judge_config, dev)
    size = data["faces"].shape[1]
    state = _restore()
    if state is not None:
        trainer.load_state_dict(state)
    for epoch in range(trainer.epochs_done + 1, judge_config.epochs + 1):
        loss, accuracy = trainer.epoch()
        if not math.isfinite(loss):
            raise TrialDiverged(f"judge loss became {loss}; the trial diverged (try a lower learning rate)")
        net = trainer.network()
        emb_val = embed_with(net, data["faces"][val], size, dev)
        calibration = calibrate(emb_val, data["labels"][val], judge_config.distance, judge_config.criterion, judge_config.tau_step)
        row = {"epoch": epoch, "train_loss": loss, "train_accuracy": accuracy, "val_verification_accuracy": calibration.accuracy,
               "val_f1": calibration.f1, "tau": calibration.tau}
        extra = None
        if epoch == judge_config.epochs:
            emb_test = embed_with(net, data["faces"][test], size, dev)
            verification = pair_verification(emb_test, data["labels"][test], calibration.tau, judge_config.distance)
            extra = {TEST_METRICS_FILE: {f"test_{k}": v for k, v in verification.items()} | {"tau": calibration.tau}}
        _report(row, trainer.state_dict(), extra)
