"""The judge task: training the searchable face judge, and the judge stage (the judge and tau the generators are measured by).

- ``JudgeTask``: the ``judge`` target is the trained judge's declaration (``judge.JUDGE_HYPERS``); its trial
  trains the network one epoch at a time and reports the validation verification accuracy at the tau
  chosen there; a finished trial becomes the judge stage (``adopt``).
- ``judge_stage``: obtain the judge named by ``JudgeConfig.kind`` from ``judges.registry`` (pretrained, or
  fitted on the train photos), calibrate tau on the validation photos and measure verification on the
  test photos, real photos only. The stage writes ``<run_dir>/judge`` with its key (``stage_records``):
  the record names the judge and keeps its curve and test verification; ``judge.pt`` holds its
  ``state()``, from which each generator trial rebuilds it; ``photo_embeddings/`` holds every photo's embedding, one
  shard per face shard of the prepared dataset, with the same rows (``embed_photos``), from which generator trials read what they score against.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from v2f_bench.artifacts import EMBEDDING_COLUMN, STATE_FILE, TEST_METRICS_FILE
from v2f_bench.data.prepared import PreparedDataset
from v2f_bench.errors import UserError
from v2f_bench.hashing import sha256_json
from v2f_bench.hyperparameters import check_config
from v2f_bench.judge import JUDGE_HYPERS, SEARCHED_JUDGE, JudgeConfig, calibrate, calibrate_and_verify, judge_config_of, judge_settings
from v2f_bench.judges.registry import get_judge, judge_class
from v2f_bench.progress import progress
from v2f_bench.runtime import TrialDiverged, device, seed_everything
from v2f_bench.stage_records import cached, finish
from v2f_bench.targets import Target
from v2f_bench.tasks.base import Context, Epoch, Task, TrialSetup
from v2f_bench.trials import last_checkpoint


class JudgeTask(Task):
    """Training the trained judge (``judge.SEARCHED_JUDGE``), the one judge with hyperparameters to search."""

    role = "judge"
    stage_option = "--judge-config"
    summary = "the trained face judge, selected on validation verification accuracy"

    @classmethod
    def target(cls, name: str = "judge", voice_encoder: str | None = None, families=None) -> Target:
        judge = get_judge(SEARCHED_JUDGE)
        metric, mode = judge.objective
        return Target("judge", cls.role, judge.hyperparameters, metric, mode)

    @classmethod
    def setup(cls, name: str, context: Context) -> TrialSetup:
        return TrialSetup(judge_data(context.prepared))

    @classmethod
    def epochs(cls, config: dict, data: dict, meter, state: dict | None = None):
        """Each epoch: train, calibrate tau on the validation photos and report the validation verification
        accuracy and F1 there; after the last epoch the test-photo verification at that tau goes to ``test_metrics.json``."""
        from v2f_bench.data.batches import rows_for
        from v2f_bench.judges.facenet import FacenetTrainer, embed_rows

        judge_config = judge_config_of(check_config(JUDGE_HYPERS, config, "judge"))
        seed_everything(judge_config.seed)
        dev = str(device())
        rows = rows_for(data["layout"], data["faces"])
        split, labels = np.asarray(data["split"]), np.asarray(data["labels"])
        trainer = FacenetTrainer(rows, split == "train", labels, judge_config, dev)
        size = data["layout"].shape[0]
        if state is not None:
            trainer.load_state_dict(state)
        for epoch in range(trainer.epochs_done + 1, judge_config.epochs + 1):
            loss, accuracy = trainer.epoch(meter)
            if not math.isfinite(loss):
                raise TrialDiverged(f"judge loss became {loss}; the trial diverged (try a lower learning rate)")
            net = trainer.network()
            val, emb_val = meter.evaluate(lambda: embed_rows(net, rows, split == "val", size, dev))
            files = {}
            if epoch == judge_config.epochs:
                test, emb_test = meter.evaluate(lambda: embed_rows(net, rows, split == "test", size, dev))
                calibration, verification = calibrate_and_verify(emb_val, labels[val], emb_test, labels[test], judge_config)
                files = {TEST_METRICS_FILE: {f"test_{k}": v for k, v in verification.items()} | {"tau": calibration.tau}}
            else:
                calibration = calibrate(emb_val, labels[val], judge_config.distance, judge_config.criterion, judge_config.tau_step)
            row = {"epoch": epoch, "train_loss": loss, "train_accuracy": accuracy, "val_verification_accuracy": calibration.accuracy,
                   "val_f1": calibration.f1, "tau": calibration.tau}
            yield Epoch(row, trainer.state_dict(), files)

    @classmethod
    def adopt(cls, context: Context, config: dict, result) -> dict:
        return adopt_judge_trial(context.prepared, context.run_dir, config, result)

    @classmethod
    def stage_settings(cls, record: dict) -> dict:
        return judge_settings(JudgeConfig(**record["config"]))

    @classmethod
    def check_request(cls, verb: str, name: str, context: Context) -> None:
        """``train`` has no judge of its own (a generator's ``train`` trains it as its stage); ``tune`` searches the trained judge only."""
        if verb == "train":
            raise UserError("`train judge`: the judge is trained as the judge stage of `train FAMILY` (--judge-epochs), "
                            "or searched with `tune judge`; train 'voice' or a generator family")
        judge = context.judge_config()
        if judge.kind != SEARCHED_JUDGE:
            raise UserError(f"--judge {judge.kind}: `tune judge` searches the hyperparameters of the {SEARCHED_JUDGE!r} judge only; "
                            f"drop --judge, or pass --judge {judge.kind} to a generator search instead")


def judge_data(prepared, mode: str | None = None) -> dict:
    """What a judge trial needs: the judge-size crops' shard layout, the crops themselves (``faces``) unless they stream
    (``data.batches.streams`` under ``mode``: None, and the trial reads them through Ray Data), labels and splits."""
    from v2f_bench.data.batches import streams

    crops = judge_crops(prepared)  # streamed, Ray Data's tasks may read on any node of a cluster: from the dataset's source
    streamed = streams(crops.nbytes, mode)
    held = None if streamed else prepared.faces(judge_size(prepared), keep=False)  # the dataset keeps no copy beside this one
    return {"task": JudgeTask, "layout": crops, "faces": held, "streamed": streamed,
            "labels": np.asarray(prepared.arrays["photo_label.npy"]), "split": np.asarray(prepared.arrays["photo_split.npy"])}


def judge_crops(prepared, local: bool = False):
    """The ``batches.ShardLayout`` of the prepared dataset's judge-size face crops."""
    from v2f_bench.data.batches import ShardLayout
    from v2f_bench.data.prepared import FACE_SHARDS, face_column

    return ShardLayout.of(prepared, FACE_SHARDS, face_column(judge_size(prepared)), local=local)


def judge_size(prepared) -> int:
    """The side of the face crops the judge reads (the prepared dataset's ``judge_size``)."""
    return int(prepared.manifest["params"]["faces"]["judge_size"])


def _judge_key(prepared: PreparedDataset, config: JudgeConfig) -> str:
    return sha256_json({"prepared": prepared.manifest["cache_key"], "config": config.as_dict()})


def judge_stage(prepared: PreparedDataset, run_dir: Path, config: JudgeConfig) -> dict:
    """Obtain and calibrate the judge ``config.kind`` (from ``judges.registry``); returns the stage record.

    A trainable judge is fitted on the train photos; a pretrained one is built as it is. Either way
    tau is calibrated on the validation photos and verification measured on the test photos.
    """
    chosen = judge_class(config)
    folder = Path(run_dir) / "judge"
    key = _judge_key(prepared, config)
    found = cached(folder, key)
    if found is not None and PHOTO_EMBEDDINGS in found:
        return found
    if found is not None and "judge" in found and (folder / "judge.pt").is_file():  # the embeddings as one array: the same judge, embedded again
        state = torch.load(folder / "judge.pt", map_location="cpu", weights_only=True)
        return _calibrated_stage(folder, key, get_judge(found["judge"]).from_state(state, device()), config, prepared, found.get("training", []))
    size = judge_size(prepared)
    judge = chosen(config, device(), input_size=size)
    history = []
    if not judge.pretrained:
        from v2f_bench.data.batches import rows_for
        from v2f_bench.parallel import ray_session

        data = judge_data(prepared)
        bar = progress(range(config.epochs), f"training the {config.kind} judge", unit="epoch")

        def report(epoch, loss, accuracy):
            history.append({"epoch": epoch, "loss": loss, "accuracy": accuracy})
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.3f}")

        with ray_session("local") if data["streamed"] else contextlib.nullcontext():  # the session open, else a private one for Ray Data
            judge.fit_rows(rows_for(data["layout"], data["faces"]), data["split"] == "train", data["labels"], report=report)
        bar.close()
        del data  # the crops: embedding reads a shard at a time
    return _calibrated_stage(folder, key, judge, config, prepared, history)


def adopt_judge_trial(prepared: PreparedDataset, run_dir: Path, config: dict, result) -> dict:
    """Make a finished judge trial (a Ray ``Result`` of a judge search) the judge stage: rebuild the trained
    judge from its checkpoint, calibrate tau on the validation photos and measure the test photos, as
    ``judge_stage`` does, under the key of the trial's settings with the epochs it trained."""
    from v2f_bench.judges.facenet import facenet_network

    with last_checkpoint(result).as_directory() as checkpoint:
        state = torch.load(Path(checkpoint) / STATE_FILE, map_location="cpu", weights_only=True)
    settings = check_config(JUDGE_HYPERS, {k: v for k, v in config.items() if k in JUDGE_HYPERS}, "judge")
    judge_config = judge_config_of({**settings, "max_epochs": int(state["epochs_done"])})
    size = judge_size(prepared)
    n_classes = int(state["net"]["logits.weight"].shape[0])
    judge_class = get_judge(SEARCHED_JUDGE)
    judge = judge_class(judge_config, device(), input_size=size, net=facenet_network(n_classes, state["net"], embedding=True), n_classes=n_classes)
    history = [{"epoch": int(state["epochs_done"]), "adopted_from": str(result.path)}]
    return _calibrated_stage(Path(run_dir) / "judge", _judge_key(prepared, judge_config), judge, judge_config, prepared, history)


PHOTO_EMBEDDINGS = "photo_embeddings"
"""The judge stage's folder of photo-embedding shards, and its record's key for their shard spec (``embed_photos``)."""


def _calibrated_stage(folder: Path, key: str, judge, config: JudgeConfig, prepared: PreparedDataset, history: list) -> dict:
    """Embed every photo with ``judge`` (``embed_photos``), choose tau on the validation photos, verify on the test photos,
    and write the stage."""
    labels, split = np.asarray(prepared.arrays["photo_label.npy"]), np.asarray(prepared.arrays["photo_split.npy"])
    val, test = split == "val", split == "test"
    if np.bincount(labels[val]).max(initial=0) < 2:
        raise UserError("the validation split has no two photos of one identity to calibrate tau on; add photos or raise the val fraction (--split-fractions)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    spec, held = embed_photos(judge, prepared, folder, val | test)
    in_val = val[val | test]
    calibration, verification = calibrate_and_verify(held[in_val], labels[val], held[~in_val], labels[test], config)
    torch.save(judge.state(), folder / "judge.pt")
    size = judge_size(prepared)
    return finish(folder, key, {"judge": judge.name, "config": config.as_dict(), "crop_size": size, "input_size": judge.input_size,
                                "embedding_dim": int(held.shape[1]), PHOTO_EMBEDDINGS: spec, "training": history,
                                "calibration": calibration.as_dict(), "test_verification": verification})


def embed_photos(judge, prepared: PreparedDataset, folder: Path, keep: np.ndarray) -> tuple[dict, torch.Tensor]:
    """The judge's embedding of every photo, written shard by shard (``folder/photo_embeddings/part-NNNNN.parquet``, one per
    face shard of the prepared dataset, with the same rows, column ``embedding``): only one shard's
    crops and embeddings are held at a time. Returns the shards' spec (as a prepared manifest writes one, for
    ``batches.ShardLayout.from_spec``) and the embeddings of the photos where ``keep`` holds, in photo order."""
    from v2f_bench.data import shards
    from v2f_bench.data.batches import read_column

    crops = judge_crops(prepared, local=True)
    written = shards.EmbeddingShards(folder, PHOTO_EMBEDDINGS, EMBEDDING_COLUMN)
    held, dim = [], 0
    bar = progress(range(len(crops.files)), f"embedding the photos with the {judge.name} judge", unit="shard")
    for k in range(len(crops.files)):
        embedded = judge.embed(read_column(crops, k)).float()
        dim = embedded.shape[1]
        written.write(crops.first[k], embedded.numpy())
        held.append(embedded[np.asarray(keep[crops.first[k] : crops.first[k] + crops.rows[k]], dtype=bool)])
        bar.update(1)
    bar.close()
    return written.spec(dim), torch.cat(held) if held else torch.zeros(0, 0)
