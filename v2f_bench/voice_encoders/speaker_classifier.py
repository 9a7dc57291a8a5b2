"""The paper CNN trained as a speaker classifier: its hyperparameters, its trial data and its epoch loop.

The voice task (``tasks.voice``) runs this loop as a Ray Tune trial for the ``paper-text`` and
``paper-code`` encoders (``voice_encoders.paper_cnn``); the encoder's embedding is then the 128-d layer
that feeds the classifier, taken from the model of the best epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from v2f_bench.artifacts import STATE_FILE, TEST_METRICS_FILE
from v2f_bench.hyperparameters import Hyper, check_config
from v2f_bench.models.voice_cnn import VARIANTS
from v2f_bench.runtime import TrialDiverged, device, finite_or_raise, seed_everything, shared_tensor

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

def voice_data(prepared, mode: str | None = None) -> dict:
    """The arrays the voice trainable needs, from a ``PreparedDataset``: labels, splits and clips of every window, and the
    features' shard layout; the features themselves too (``features``) unless they are streamed (``data.batches.streams``
    under ``mode``, one of ``data.batches.DATA_MODES``).

    ``split`` is the voice classifier's own split (``PreparedDataset.voice_split``): the window split,
    except under the identity-disjoint protocols (``unseen``, ``wen``, ``sf2f``), where it trains,
    early-stops and is tested on disjoint clips of the train identities only (a closed-set classifier cannot be validated on identities it never saw).
    """
    from v2f_bench.data.batches import ShardLayout, streams
    from v2f_bench.data.prepared import VOICE_COLUMN, VOICE_SHARDS

    layout = ShardLayout.of(prepared, VOICE_SHARDS, VOICE_COLUMN)
    data = {
        "layout": layout,
        "labels": np.asarray(prepared.arrays["window_label.npy"]),
        "split": prepared.voice_split(),
        "clip": np.asarray(prepared.arrays["window_clip.npy"]),
        "n_classes": len(prepared.manifest["identities"]),
    }
    data["streamed"] = streams(layout.nbytes, mode)
    if not data["streamed"]:
        data["features"] = np.ascontiguousarray(prepared.voice_features)
    return data


def voice_epochs(config: dict, data: dict, meter, state: dict | None = None) -> Iterator[tuple[dict, dict, dict]]:
    """The voice classifier's training, resumed from a checkpoint ``state`` when given: yields
    (metrics row, checkpoint state, extra checkpoint files) after each epoch and stops early when
    validation loss has not improved for ``patience`` epochs. Every training step goes through
    ``meter`` (``compute.ComputeMeter``) and every evaluation through ``meter.evaluate``. The voice
    task's trial reports each yield to Ray Tune; loops outside Tune (benchmarks/search.py) iterate it directly."""
    from v2f_bench.data.batches import PassTiming, rows_for
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
    rows = rows_for(data["layout"], None if data["streamed"] else data["features"])
    y = shared_tensor(data["labels"]).long()
    split = np.asarray(data["split"])
    clip = np.asarray(data["clip"])
    for epoch in range(progress["epoch"] + 1, settings["max_epochs"] + 1):
        rows.timing = PassTiming()
        batches = rows.batches(split == "train", settings["batch_size"], settings["seed"], epoch)
        train_loss, train_acc = _voice_epoch(model, optimizer, batches, y, dev, meter)
        waited = rows.timing.wait_share
        val_loss, val_acc, val_clip_acc = meter.evaluate(lambda: voice_evaluate(model, rows.batches(split == "val", EVAL_BATCH), y, clip, dev))
        row = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
               "val_accuracy": val_acc, "val_clip_accuracy": val_clip_acc, "data_wait_share": waited}
        finite_or_raise(row, f"voice epoch {epoch}")
        improved = val_loss < progress["best_val_loss"]
        progress.update(epoch=epoch, best_val_loss=min(val_loss, progress["best_val_loss"]), stale=0 if improved else progress["stale"] + 1)
        if improved:
            progress["best_model"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        finished = progress["stale"] >= settings["patience"] or epoch == settings["max_epochs"]
        if finished:
            model.load_state_dict(progress["best_model"])
        _, test_acc, test_clip_acc = meter.evaluate(lambda: voice_evaluate(model, rows.batches(split == "test", EVAL_BATCH), y, clip, dev))
        model_epoch = epoch - progress["stale"] if finished else epoch
        extra = {TEST_METRICS_FILE: {"test_accuracy": test_acc, "test_clip_accuracy": test_clip_acc, "epoch_of_model": model_epoch}}
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), **progress,
                 "variant": settings["variant"], "n_classes": data["n_classes"]}
        yield row, state, extra
        if finished:
            return


def _voice_epoch(model, optimizer, batches, y, dev, meter) -> tuple[float, float]:
    """One epoch over ``batches`` ((window indices, features) pairs, ``data.batches``): mean loss and accuracy."""
    model.train()
    total, correct, loss_sum = 0, 0, 0.0
    for index, features in batches:
        xb, yb = features.to(dev), y[torch.as_tensor(index)].to(dev)
        logits, loss = meter.step(len(index), lambda: _voice_step(model, optimizer, xb, yb))
        total += len(index)
        correct += int((logits.argmax(1) == yb).sum())
        loss_sum += loss.item() * len(index)
    return loss_sum / max(total, 1), correct / max(total, 1)


def _voice_step(model, optimizer, xb, yb):
    logits = model(xb)
    loss = F.cross_entropy(logits, yb) + model.l2_penalty()
    if not torch.isfinite(loss):
        raise TrialDiverged(f"voice classifier loss became {loss.item()}; the trial diverged (try a lower learning rate)")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return logits, loss


EVAL_BATCH = 128
"""Windows scored at a time in an evaluation pass (the CNN's activations for 128 windows take about 120 MB)."""


@torch.no_grad()
def voice_evaluate(model, batches, y, clip, dev) -> tuple[float, float, float]:
    """(mean window loss, window accuracy, clip accuracy) over ``batches`` ((window indices, features) pairs), accumulated
    batch by batch: the pass holds one batch of features and one summed log-probability row per clip.

    Clip accuracy: the clip's class is the argmax of its windows' summed log-probabilities.
    """
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    summed: dict[int, torch.Tensor] = {}
    clip_label: dict[int, int] = {}
    for index, features in batches:
        logp = F.log_softmax(model(features.to(dev)), 1).cpu()
        labels = y[torch.as_tensor(index)]
        loss_sum += float(F.nll_loss(logp, labels, reduction="sum"))
        correct += int((logp.argmax(1) == labels).sum())
        count += len(index)
        clips, first, inverse = np.unique(clip[index], return_index=True, return_inverse=True)
        per_clip = torch.zeros(len(clips), logp.shape[1]).index_add_(0, torch.as_tensor(inverse), logp)
        for row, c in enumerate(clips.tolist()):
            summed[c] = summed[c] + per_clip[row] if c in summed else per_clip[row]
            clip_label[c] = int(labels[first[row]])
    if count == 0:
        return math.nan, math.nan, math.nan
    clip_acc = float(np.mean([int(summed[c].argmax()) == clip_label[c] for c in summed]))
    return loss_sum / count, correct / count, clip_acc


def load_voice_model(checkpoint_dir: Path):
    from v2f_bench.models.voice_cnn import VoiceCNN

    state = torch.load(Path(checkpoint_dir) / STATE_FILE, map_location="cpu", weights_only=True)
    model = VoiceCNN(state["n_classes"], variant=state["variant"])
    model.load_state_dict(state["best_model"] or state["model"])
    return model.eval()
