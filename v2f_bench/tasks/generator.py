"""The generator task: training any registered generator family on the voice and judge stages.

``GeneratorTask`` serves every family of ``models.registry.FAMILIES``: a family's target is the generic
trial settings (``models.family.GENERATOR_HYPERS``) plus the family's own, selected by
``GENERATOR_OBJECTIVE``. Its trial data (``generator_data``) is built from the prepared dataset and the
voice and judge stages; its loop (``generator_epochs``) trains the family and measures Table I, the
identity metrics and Table II on the validation units at every evaluation point (each epoch, or each rung of a
FLOP budget), with the test values of the same model
in the checkpoint (``test_metrics.json``), never reported as metrics: nothing can select on test data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from v2f_bench import metrics
from v2f_bench.artifacts import (EMBEDDING_COLUMN, LADDER_FILE, SAMPLE_GENERATED, SAMPLE_LABELS, SAMPLE_TARGETS, STAGE_FACE_EMBEDDINGS, STAGE_FACE_LABELS, STAGE_IDENTITIES, STAGE_KNOWN_ANSWER,
                                 STAGE_JUDGE, STAGE_VOICE_EMBEDDINGS, STAGE_VOICE_LABELS, TEST_METRICS_FILE)
from v2f_bench.compute import counted_flops_key, training_step
from v2f_bench.data.batches import ShardLayout, rows_for, streams, take_rows, whole_column
from v2f_bench.data.prepared import FACE_SHARDS, PreparedDataset, face_column
from v2f_bench.errors import UserError
from v2f_bench.judges.registry import JUDGES
from v2f_bench.models.family import GENERATOR_HYPERS
from v2f_bench.models.registry import FAMILIES, check_family
from v2f_bench.runtime import TrialDiverged, device, finite_or_raise, seed_everything
from v2f_bench.storage import Location
from v2f_bench.targets import Target
from v2f_bench.tasks.base import Context, Epoch, Task, TrialSetup
from v2f_bench.tasks.judge import PHOTO_EMBEDDINGS
from v2f_bench.tasks.trial_photos import (STAGE_FACE_SAMPLE, FaceBank, face_rows, mean_face, mean_training_face, photo_summary,
                                          target_embeddings)
from v2f_bench.tasks.voice import CLIP_EMBEDDINGS, window_layout
from v2f_bench.trials import checkpoint_metrics, run_one

GENERATOR_OBJECTIVE = ("val_verification_accuracy", metrics.METRICS["verification_accuracy"].mode)
"""What a generator search selects by unless its space file says otherwise: Table I on the validation units."""

EVAL_UNITS = ("window", "clip")
"""What one validation or test decision of a generator is (``generator_data``)."""
EVAL_SPLITS = ("val", "test")
"""The splits whose units a generator trial evaluates (``generator_data`` keeps only theirs)."""


class GeneratorTask(Task):
    """Training one generator family: the targets are the registered families."""

    role = "generator"
    summary = "a generator family, selected on validation verification accuracy (Table I)"

    @classmethod
    def names(cls, families=None) -> list[str]:
        return sorted(FAMILIES if families is None else families)

    @classmethod
    def target(cls, name: str, voice_encoder: str | None = None, families=None) -> Target:
        """A family as a target: the generic trial settings plus the family's own hyperparameters."""
        family = (FAMILIES if families is None else families)[name]
        check_family(family)
        metric, mode = GENERATOR_OBJECTIVE
        return Target(family.name, cls.role, {**GENERATOR_HYPERS, **family.defaults}, metric, mode)

    @classmethod
    def setup(cls, name: str, context: Context) -> TrialSetup:
        """The voice and judge stages (reused when cached), then the trial data of ``name``'s trials."""
        from v2f_bench.tasks.judge import judge_stage
        from v2f_bench.tasks.voice import voice_stage

        voice = voice_stage(context.prepared, context.run_dir, context.voice_config, context.storage, context.voice_encoder, context.audio_root)
        judge_record = judge_stage(context.prepared, context.run_dir, context.judge_config())
        data = generator_data(context.prepared, context.run_dir, voice, judge_record, context.eval_unit, context.gallery)
        extra = {"voice_encoder": voice["encoder"],
                 "voice_stage": {"encoder": voice["encoder"], "embedding_dim": voice["embedding_dim"], "config": voice["config"], "test": voice["test"]},
                 "judge_stage": {"judge": judge_record["judge"], "config": judge_record["config"], "tau": judge_record["calibration"]["tau"],
                                 "test_verification": judge_record["test_verification"]},
                 "eval_unit": data["eval_unit"], "gallery": data["gallery"]}
        return TrialSetup(data, extra, stage_artifacts(context.prepared, data, judge_record))

    @classmethod
    def selects(cls, name: str) -> dict:
        return {"family": name}

    @classmethod
    def train_once(cls, name: str, context: Context, config: dict) -> dict:
        """The voice and judge stages (reused when cached), then one trial of family ``name`` with ``config``."""
        cls.target(name).check(config)
        setup = cls.setup(name, context)
        trials = str(Location.parse(context.storage).child("trials")) if context.storage else Path(context.run_dir) / "trials"
        result = run_one(setup.data, {**config, **cls.selects(name)}, trials, f"train_{name}")
        judge = setup.extra["judge_stage"]
        return {"target": name, "config": result.config, **checkpoint_metrics(result),
                "judge": {"name": judge["judge"], "tau": judge["tau"]},
                "voice": setup.extra["voice_stage"]["test"], "voice_encoder": setup.extra["voice_encoder"], "path": result.path}

    @classmethod
    def epochs(cls, config: dict, data: dict, meter, state: dict | None = None):
        return generator_epochs(config, data, meter, state)


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

    The evaluation units (``clip_emb``, ``clip_label``, ``clip_split``) are those of the validation and test splits only,
    whatever the unit; the trials' training windows come from the voice stage's shards (``voice``, their layout):
    ``voice_emb`` holds them whole when they are under the streaming rule's size (``batches.streams``), else it is None
    and each trial streams them through Ray Data (``streamed``; ``batches.rows_for``). ``voice_sample`` is a seeded sample of
    the clip embeddings with their labels (``trial_photos.STAGE_FACE_SAMPLE`` at most) for the report's t-SNE.

    When the data streams, ``faces`` and the judge's ``photo_emb`` are their shards' layouts, from which each trial takes
    its targets' rows. The stages' shards sit in ``run_dir``, which a multi-node cluster must therefore share, as it
    shares a local prepared dataset.
    """
    if eval_unit not in EVAL_UNITS:
        raise UserError(f"--eval-unit {eval_unit!r}: choose one of {', '.join(EVAL_UNITS)}")
    run_dir = Path(run_dir)
    clips = prepared.manifest["clips"]
    label_of = {row["voice_id"]: row["label"] for row in prepared.manifest["identities"]}
    windows = window_layout(run_dir, voice)
    streamed = streams(windows.nbytes)
    window_label = np.asarray(prepared.arrays["window_label.npy"])
    window_split = np.asarray(prepared.arrays["window_split.npy"])
    clip_split = np.array([c["split"] for c in clips])
    clip_label = np.array([label_of[c["voice_id"]] for c in clips])
    clip_emb = np.load(run_dir / "voice" / CLIP_EMBEDDINGS)
    photo_label, photo_split = np.asarray(prepared.arrays["photo_label.npy"]), np.asarray(prepared.arrays["photo_split.npy"])
    faces = ShardLayout.of(prepared, FACE_SHARDS, face_column(64))
    embeddings = ShardLayout.from_spec(judge[PHOTO_EMBEDDINGS], EMBEDDING_COLUMN, run_dir / "judge")
    if eval_unit == "window" or (clip_split == "mixed").any():
        units = np.flatnonzero(np.isin(window_split, EVAL_SPLITS))
        eval_unit, eval_emb, eval_label, eval_split = "window", take_rows(windows, units), window_label[units], window_split[units]
    else:
        units = np.flatnonzero(np.isin(clip_split, EVAL_SPLITS))
        eval_emb, eval_label, eval_split = clip_emb[units], clip_label[units], clip_split[units]
    shown = metrics.at_most(np.arange(len(clip_emb)), STAGE_FACE_SAMPLE, np.random.default_rng(0))
    return {
        "task": GeneratorTask,
        "families": dict(FAMILIES),
        "voice": windows,
        "voice_emb": None if streamed else whole_column(windows),
        "streamed": streamed,
        "window_label": window_label,
        "window_split": window_split,
        "clip_emb": eval_emb,
        "clip_label": eval_label,
        "clip_split": eval_split,
        "eval_unit": eval_unit,
        "voice_sample": (clip_emb[shown], clip_label[shown]),
        "gallery": gallery_settings(gallery),
        "faces": faces if streams(faces.nbytes) else prepared.faces(64),
        "mean_face": mean_face(prepared, photo_split == "train"),
        "photo_label": photo_label,
        "photo_split": photo_split,
        "photo_order": np.argsort(np.argsort(np.array([p["file"] for p in prepared.manifest["photos"]]), kind="stable")),
        "judges": dict(JUDGES),
        "judge": {
            "name": judge["judge"],
            "state": torch.load(run_dir / "judge" / "judge.pt", map_location="cpu", weights_only=True),
            "tau": judge["calibration"]["tau"],
            "distance": judge["calibration"]["distance"],
            "photo_emb": embeddings if streams(embeddings.nbytes) else whole_column(embeddings),
            **photo_summary(embeddings, photo_label, photo_split),
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


def rung_fractions(rungs: int) -> list[float]:
    """The fractions of a trial's ``budget_flops`` at which it evaluates: 1/2^(rungs-1), ..., 1/4, 1/2, 1 (log-spaced,
    so the ladder of budgets reads each doubling of compute, and most evaluations fall where compute is cheap)."""
    return [2.0 ** -(rungs - 1 - k) for k in range(rungs)]


def generator_epochs(config: dict, data: dict, meter, state: dict | None = None):
    """A generator family's training, resumed from a checkpoint ``state`` when given: yields an ``Epoch``
    (metrics row, checkpoint state, ``test_metrics.json`` and ``ladder.json``, sample-face arrays) at each
    evaluation point.

    The Ray trainable reports each yield; loops outside Tune (benchmarks, GPU checks) iterate it
    directly. ``data`` (see ``generator_data``): the family registry as the driver
    knew it (so that families registered at run time reach the workers), window voice embeddings
    with labels and splits, the evaluation embeddings (one per test window or per clip, ``eval_unit``)
    with labels and splits, the 64x64 real faces with labels and splits, the judge registry, and the
    judge (its name and ``state()``, tau, distance, and its embedding of every real photo); the judge's
    name goes into every checkpoint's ``test_metrics.json``.

    When to evaluate: after every epoch up to ``max_epochs``; or, for a trial with ``budget_flops`` > 0, at
    the rungs (``rung_fractions``): after the first step whose cumulative FLOPs (training, or training and evaluation:
    ``budget_counts``) reach each fraction
    of the budget (so within one step of it; a step that crosses two fractions evaluates the same model at both), ending
    at the top rung, or at ``max_epochs`` (a cap: that last point has ``capped`` 1 and the share it spent). Epochs then only reshuffle the windows. Each row holds the losses averaged over the steps since
    the previous evaluation, Table I, the identity metrics and Table II on the validation units (and the
    rung, its fraction and the FLOPs actually spent) and ``sample_flops``, the FLOPs of generating one face. Every checkpoint's ``ladder.json`` lists every
    evaluation point so far with its test values, so the latest checkpoint gives the whole ladder. Every
    training step goes through ``meter`` (``compute.ComputeMeter``), and the evaluation (validation, test and
    the sample faces) through ``meter.evaluate``.
    """
    config = dict(config)
    name = config.pop("family", None)
    if name not in data["families"]:
        raise ValueError(f"a generator trial's config must name its family, one of {', '.join(sorted(data['families']))}; got {name!r}")
    family_class = data["families"][name]
    checked = GeneratorTask.target(name, families=data["families"]).check(config)
    settings = {"family": name, **{k: checked[k] for k in GENERATOR_HYPERS}}
    seed_everything(settings["seed"])
    dev = device()
    size = settings["image_size"]
    family = family_class({k: checked[k] for k in family_class.defaults}, embed_dim=data["voice"].shape[0], image_size=size, device=dev)
    memory = torch.channels_last if settings["channels_last"] else torch.contiguous_format
    for net in family.networks.values():
        net.to(memory_format=memory)
    judge = _judge_from(data, dev)
    targets = choose_targets(data["photo_label"], data["photo_split"], settings["target"], settings["seed"], data.get("photo_order"))
    position = {"epoch": 1, "batch": 0, "rung": 0, "picks": None}
    ladder: list[dict] = []
    if state is not None:
        family.load_state_dict(state["family"])
        torch.set_rng_state(state["rng"])
        position = dict(state.get("position") or {"epoch": state["epoch"] + 1, "batch": 0, "rung": 0, "picks": None})
        ladder = list(state.get("ladder", []))
    faces = FaceBank.taken(data["faces"], face_rows(data, targets, settings["pairing"], family.reference))
    train_faces = faces.resized(size)
    target_emb = target_embeddings(data, targets)
    shown = Faces(family, faces.side)
    voice = rows_for(data["voice"], data["voice_emb"])
    train = np.asarray(data["window_split"]) == "train"
    photo_pool = _photo_pool(data, settings["pairing"])
    step = training_step(family, settings["precision"], memory, dev)
    budget = settings["budget_flops"]
    fractions = rung_fractions(settings["rungs"]) if budget > 0 else []

    counted_key = counted_flops_key(settings["budget_counts"])

    def counted() -> float:
        """What the budget counts so far (``budget_counts``): training FLOPs, or training and evaluation FLOPs."""
        return getattr(meter, counted_key)

    per_face: list[int] = [state["sample_flops"]] if state is not None and "sample_flops" in state else []
    labels = np.asarray(data["window_label"])
    sums: dict[str, float] = {}
    steps = 0
    evaluated: dict = {}

    def point(epoch: int, fraction: float | None, capped: bool = False, again: bool = False) -> Epoch:
        """Evaluate the model as it is now: the metrics row and the checkpoint of this evaluation point (``again``: the
        model has not changed since the last evaluation in this process, which is reused if there is one)."""
        nonlocal sums, steps
        where = {"epoch": epoch} if fraction is None else {"epoch": epoch, "rung": position["rung"], "rung_fraction": fraction,
                                                            "budget_spent": counted() / budget, "capped": int(capped)}
        if family.reference:
            where["reference"] = 1
        losses = {key: value / max(steps, 1) for key, value in sums.items()}
        sums, steps = {}, 0
        if not (again and evaluated):
            evaluated.update(val=meter.evaluate(lambda: evaluate_generator(shown, judge, data, faces, targets, "val", dev, target_emb)),
                             test=meter.evaluate(lambda: evaluate_generator(shown, judge, data, faces, targets, "test", dev, target_emb)),
                             arrays=meter.evaluate(lambda: sample_faces(shown, data, faces, targets, dev)))
        if not per_face:  # once per trial, on the trained (or fitted) model; a resumed trial keeps its count
            per_face.append(meter.per_face(lambda: shown.generate(torch.zeros(1, data["voice"].shape[0], device=dev))))
        row = {**where, **losses, **evaluated["val"], "sample_flops": per_face[0]}
        finite_or_raise(row, f"{settings['family']} epoch {epoch}")
        test = evaluated["test"]
        decisions = int((np.asarray(data["clip_split"]) == "test").sum())
        test_file = {**test, "test_decisions": decisions, "test_unit": data.get("eval_unit", "clip"), "epoch_of_model": epoch,
                     "judge": data["judge"]["name"]}
        ladder.append({**where, "train_flops": meter.train_flops, "eval_flops": meter.eval_flops, "train_steps": meter.train_steps, "test": test_file,
                       "val": {k: v for k, v in row.items() if k.startswith("val_")}})
        arrays = evaluated["arrays"]
        checkpoint = {"family": family.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch, "family_name": settings["family"],
                      "position": dict(position), "ladder": list(ladder), "sample_flops": per_face[0]}
        return Epoch(row, checkpoint, {TEST_METRICS_FILE: test_file, LADDER_FILE: {"budget_flops": budget, "points": list(ladder)}}, arrays)

    if fractions and position["rung"] >= len(fractions):
        return  # restored from the checkpoint of the top rung: the trial had ended
    if family.reference:
        yield from _reference_points(family, meter, point, position, data, voice, train_faces, train, fractions, settings["max_epochs"])
        return
    while position["epoch"] <= settings["max_epochs"]:
        epoch = position["epoch"]
        generator = torch.Generator().manual_seed(PICKS_SEED + settings["seed"] * 1000 + epoch)
        if position["picks"] is not None:
            generator.set_state(position["picks"])
        seen = position["batch"]  # windows of this epoch trained on before the checkpoint it resumes from
        for index, voice_batch in voice.batches(train, settings["batch_size"], settings["seed"], epoch, skip=seen):
            seen += len(index)
            if len(index) < 2:  # batch norm needs two
                continue
            losses = _train_batch(step, meter, voice_batch, train_faces, labels[index], targets, photo_pool, generator)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            steps += 1
            while fractions and position["rung"] < len(fractions) and counted() >= fractions[position["rung"]] * budget:
                position.update(batch=seen, picks=generator.get_state())
                fraction = fractions[position["rung"]]
                position["rung"] += 1
                # a step that crosses two fractions (or, under train+eval, an evaluation that reaches the next fraction)
                # stands at both with the same model, evaluated once
                yield point(epoch, fraction, again=steps == 0)
            if fractions and position["rung"] == len(fractions):
                return
        position.update(epoch=epoch + 1, batch=0, picks=None)
        if not fractions:
            yield point(epoch, None)
    if fractions and steps:  # the epoch cap came first: the last model, as the next rung, at the share it spent (flagged)
        position["rung"] += 1
        yield point(settings["max_epochs"], counted() / budget, capped=True)


def _reference_points(family, meter, point, position: dict, data: dict, voice, faces, train, fractions: list[float], max_epochs: int):
    """A reference family's trial (``models.family.ReferenceFamily``): one ``fit`` on every training window (read whole from
    ``voice``, a ``batches.rows_for``) and photo (through ``meter`` as one step, so that what it costs is counted), evaluated once,
    and that one model reported at every evaluation point the schedule has left: each rung of a budget, or each epoch up
    to ``max_epochs``."""
    photos = np.flatnonzero(np.asarray(data["photo_split"]) == "train")
    labels, photo_labels = np.asarray(data["window_label"]), np.asarray(data["photo_label"])
    index = np.flatnonzero(train)
    windows, at = torch.empty(len(index), data["voice"].shape[0]), 0
    for _, batch in voice.batches(train, EVAL_BATCH * 16):  # storage order: the rows of ``index`` in turn
        windows[at : at + len(batch)] = batch
        at += len(batch)
    meter.step(len(index), lambda: family.fit(windows, torch.as_tensor(labels[index]), faces[photos], torch.as_tensor(photo_labels[photos])))
    if fractions:
        for k in range(position["rung"], len(fractions)):
            position["rung"] = k + 1
            yield point(1, fractions[k], again=True)
        return
    for epoch in range(position["epoch"], max_epochs + 1):
        position.update(epoch=epoch + 1, batch=0, picks=None)
        yield point(epoch, None, again=True)


class Faces:
    """A family seen at ``side`` pixels: its ``generate`` upsampled (bilinear) when it generates smaller faces
    (``image_size`` 32), so that the judge, Table II and the samples always meet faces of the real faces' size."""

    def __init__(self, family, side: int):
        self.family, self.side = family, side

    def generate(self, voice: torch.Tensor) -> torch.Tensor:
        faces = self.family.generate(voice)
        if faces.shape[-1] == self.side:
            return faces
        return torch.nn.functional.interpolate(faces, size=(self.side, self.side), mode="bilinear", align_corners=False).clamp(0, 1)


@torch.no_grad()
def sample_faces(family, data: dict, faces, targets, dev) -> dict[str, np.ndarray]:
    """Faces for the paper's Fig. 10: from the first test clip of every identity, the generated face
    and the identity's target face, as uint8 (K, 64, 64, 3), saved in every checkpoint."""
    split, labels = np.asarray(data["clip_split"]), np.asarray(data["clip_label"])
    first = [np.flatnonzero((split == "test") & (labels == c))[:1] for c in np.unique(labels)]
    index = np.concatenate(first).astype(int)
    if len(index) == 0:
        return {}
    generated = np.concatenate([_to_uint8(family.generate(torch.as_tensor(data["clip_emb"][index[k : k + EVAL_BATCH]]).float().to(dev)).cpu())
                                for k in range(0, len(index), EVAL_BATCH)])
    shown = np.concatenate([_to_uint8(faces[targets[labels[index[k : k + EVAL_BATCH]]]]) for k in range(0, len(index), EVAL_BATCH)])
    return {SAMPLE_GENERATED: generated, SAMPLE_TARGETS: shown, SAMPLE_LABELS: labels[index]}


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(K, 3, H, W) in [0, 1] -> (K, H, W, 3) uint8."""
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def choose_targets(photo_label, photo_split, rule: str, seed: int, order=None) -> np.ndarray:
    """One target photo per identity among its train photos: seeded random (paper text) or the last one (authors' code).

    ``order`` ranks the photos by their source file (``generator_data``'s ``photo_order``; default their index): the
    candidates are taken in that order, so "last" is the last file, as the authors' code took it, whatever order the
    prepared dataset's shards store the photos in."""
    labels = np.asarray(photo_label)
    rank = np.arange(len(labels)) if order is None else np.asarray(order)
    rng = np.random.default_rng(seed)
    targets = []
    for label in range(int(labels.max()) + 1):
        candidates = np.flatnonzero((labels == label) & (np.asarray(photo_split) == "train"))
        if len(candidates) == 0:
            candidates = np.flatnonzero(labels == label)
        candidates = candidates[np.argsort(rank[candidates], kind="stable")]
        targets.append(candidates[-1] if rule == "last" else rng.choice(candidates))
    return np.asarray(targets)


def _photo_pool(data: dict, pairing: str) -> list[np.ndarray] | None:
    if pairing != "all-faces":
        return None
    labels, split = np.asarray(data["photo_label"]), np.asarray(data["photo_split"])
    return [np.flatnonzero((labels == c) & (split == "train")) for c in range(int(labels.max()) + 1)]


def _train_batch(step, meter, voice_batch, faces, batch_labels, targets, photo_pool, generator) -> dict[str, float]:
    """One training step through ``meter`` (its FLOPs, steps and images): each window's voice embedding (``voice_batch``)
    against its identity's target photo, or a random train photo of the identity (``pairing: all-faces``, drawn from
    ``generator``)."""
    if photo_pool is None:
        photo_index = targets[batch_labels]
    else:
        picks = torch.randint(0, 2**31 - 1, (len(batch_labels),), generator=generator).numpy()
        photo_index = np.array([photo_pool[c][p % len(photo_pool[c])] for c, p in zip(batch_labels, picks)])
    try:
        return meter.step(len(batch_labels), lambda: step(voice_batch, faces[photo_index]))
    except FloatingPointError as exc:
        raise TrialDiverged(str(exc)) from None


PICKS_SEED = 1 << 40
"""Added to an epoch's seed (seed * 1000 + epoch, as ``batches.shard_order`` seeds its order) for the generator that draws
``all-faces`` photos, so the two draws are independent."""


def _judge_from(data: dict, dev):
    """The judge of the judge stage, rebuilt from its ``state()`` by its class in the registry the driver sent."""
    name = data["judge"]["name"]
    if name not in data["judges"]:
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(sorted(data['judges']))}")
    return data["judges"][name].from_state(data["judge"]["state"], dev)


@torch.no_grad()
def evaluate_generator(family, judge, data: dict, faces, targets, split: str, dev, target_emb: torch.Tensor | None = None) -> dict[str, float]:
    """Table I, identity and Table II metrics of faces generated from the ``split`` clips' voice embeddings.

    One face per clip (from the clip's mean window embedding). Table I compares its judge embedding
    with the identity's target face at the calibrated tau; the identity metrics compare it with
    the per-identity mean embedding of the same split's real photos (``photo_summary``'s gallery: no photo the
    generator trained on, and it works for identity-disjoint splits), over all of the split's
    identities (``top1``, ``recall@K``) and over drawn galleries of ``data["gallery"]["size"]``
    identities, ``["draws"]`` per face, seed 0 so every epoch and trial meets the same galleries
    (``gallery_recall@K``, with ``gallery_size``, ``gallery_draws`` and ``gallery_identities`` for the
    chance level K / G); Table II compares pixels with the identity's target face; ``identity_spread`` says how
    distinct the identities' faces are (0: collapsed). ``judge`` (a ``judges.base.Judge``) resizes the 64-px faces itself.

    On the test split, the distribution metrics (``metrics.distribution``: FD, KID, precision, recall, density and
    coverage of the generated faces against the split's real photos, at most ``trial_photos.DISTRIBUTION_REAL_MAX``, in the judge's
    embedding space, with their n); they
    are not measured on validation, where nothing selects on them.

    Beside them, the chance line (``CHANCE_METRICS``, as ``{split}_chance_<metric>``): the same metrics of a
    generator that returns one fixed face for every voice, the mean training face, measured with the same judge,
    tau, targets and units. A family that does not beat it has not learned to use the voice.

    ``target_emb`` (``target_embeddings``; taken from ``data`` when None) holds the judge embedding of each identity's target.
    """
    index = np.flatnonzero(np.asarray(data["clip_split"]) == split)
    if len(index) == 0:
        return {}
    labels = np.asarray(data["clip_label"])[index]
    target_emb = target_embeddings(data, targets) if target_emb is None else target_emb
    quality = metrics.ImageQuality()
    embedded = []
    for start in range(0, len(index), EVAL_BATCH):
        part = slice(start, start + EVAL_BATCH)
        generated = family.generate(torch.as_tensor(data["clip_emb"][index[part]]).float().to(dev)).cpu()
        embedded.append(judge.embed(generated))
        quality.update(generated, faces[targets[labels[part]]])
    embedded = torch.cat(embedded)
    row = identity_scores(embedded, labels, data, target_emb, split)
    if split == "test":
        row.update({f"{split}_{k}": v for k, v in metrics.distribution(embedded, torch.as_tensor(data["judge"]["real_test"])).items()})
    row.update({f"{split}_{k}": v for k, v in quality.compute().items()})
    constant = judge.embed(mean_training_face(data)).expand(len(labels), -1)  # one face, so one judge pass
    chance = identity_scores(constant, labels, data, target_emb, split)
    row.update({f"{split}_chance_{name}": chance[f"{split}_{name}"] for name in CHANCE_METRICS})
    return row


EVAL_BATCH = 256
"""Units an evaluation generates, embeds and scores at a time (``evaluate_generator``): its faces are one batch's, whatever
the split's size; what it keeps per unit is the judge embedding."""

CHANCE_METRICS = ("verification_accuracy", "matching_1to2", "top1")
"""The metrics whose chance line every evaluation measures (``evaluate_generator``): Table I and the identity metrics
whose chance a fixed face reveals (its Table II is no chance level: a mean face can be close in pixels)."""


def identity_scores(emb: torch.Tensor, labels: np.ndarray, data: dict, target_emb: torch.Tensor, split: str) -> dict[str, float]:
    """Table I and the identity metrics of ``evaluate_generator`` for generated faces of judge embeddings ``emb`` (N, D)
    and identities ``labels``; ``target_emb`` (C, D) holds each identity's target embedding, and the gallery is each
    identity's mean embedding over the ``split``'s real photos (``photo_summary``: the metrics' ``class_means`` of those
    means are the means themselves)."""
    target_emb = target_emb[torch.as_tensor(labels, dtype=torch.long)]
    gallery, gallery_labels = data["judge"]["galleries"][split]
    gallery = torch.as_tensor(gallery)
    row = {
        f"{split}_verification_accuracy": metrics.verification_accuracy(emb, target_emb, data["judge"]["tau"], data["judge"]["distance"]),
        f"{split}_matching_1to2": metrics.matching_1to2(emb, labels, gallery, gallery_labels),
        f"{split}_mean_cosine": metrics.mean_cosine(emb, labels, gallery, gallery_labels),
    }
    spread = metrics.identity_spread(emb, labels, target_emb)
    if not np.isnan(spread):  # undefined for a split of one identity: absent, not a NaN that reads as divergence
        row[f"{split}_identity_spread"] = spread
    row.update({f"{split}_{k}": v for k, v in metrics.identification(emb, labels, gallery, gallery_labels).items()})
    drawn = data.get("gallery", {})
    row.update({f"{split}_{k}": v for k, v in metrics.gallery_recall(
        emb, labels, gallery, gallery_labels, size=drawn.get("size", metrics.GALLERY_SIZE), draws=drawn.get("draws", metrics.GALLERY_DRAWS)).items()})
    return row


def stage_artifacts(prepared: PreparedDataset, data: dict, judge_record: dict) -> dict:
    """What the report draws from the stages (t-SNE of voice and face embeddings, the tau curve, the stand-in's known
    answer), copied beside each generator search."""
    from v2f_bench.known_answer import study_answer

    known = study_answer(prepared.manifest, data["clip_emb"], data["clip_label"], data["gallery"]["size"])
    return {
        STAGE_VOICE_EMBEDDINGS: data["voice_sample"][0],
        STAGE_VOICE_LABELS: data["voice_sample"][1],
        STAGE_FACE_EMBEDDINGS: data["judge"]["sample"][0],
        STAGE_FACE_LABELS: data["judge"]["sample"][1],
        STAGE_JUDGE: {"judge": judge_record["judge"], "calibration": judge_record["calibration"],
                       "test_verification": judge_record["test_verification"], "config": judge_record["config"]},
        STAGE_IDENTITIES: {"identities": prepared.manifest["identities"]},
        **({STAGE_KNOWN_ANSWER: known} if known is not None else {}),
    }
