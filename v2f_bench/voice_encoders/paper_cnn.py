"""The paper's trainable voice CNN (``models.voice_cnn.VoiceCNN``) as two encoders, one per variant.

The encoder name is the CNN variant (``paper-text``: the PDF; ``paper-code``: the authors'
notebooks). The voice trainable keeps its ``variant`` hyperparameter, so a voice search or a
failed-trial report reads as before, but the voice stage sets it from the encoder: a trial of
encoder ``paper-code`` always trains variant ``paper-code``. Training is the speaker-classifier loop
(``voice_encoders.speaker_classifier``), run by the voice task; the embedding is the 128-d layer that
feeds the classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from v2f_bench.errors import UserError
from v2f_bench.hyperparameters import check_config
from v2f_bench.progress import progress
from v2f_bench.runtime import device
from v2f_bench.voice_encoders.base import VoiceEncoder
from v2f_bench.voice_encoders.speaker_classifier import VOICE_HYPERS, VOICE_OBJECTIVE, load_voice_model, voice_data, voice_epochs


EMBED_BATCH = 16
"""Windows embedded at a time: the CNN's activations take about 2.5 MB a window (512 at a time took 1.2 GB at the peak)."""


class PaperCNN(VoiceEncoder):
    """The VoiceCNN of one ``variant``, trained as a speaker classifier on the train windows."""

    trainable = True
    embedding_dim = 128
    variant = ""
    hyperparameters = VOICE_HYPERS
    objective = VOICE_OBJECTIVE

    def training(self, prepared, config: dict) -> tuple[dict, dict]:
        return voice_data(prepared), self.trial_config(config)

    def epochs(self, config: dict, data: dict, meter, state: dict | None = None):
        return voice_epochs(config, data, meter, state)

    def trial_config(self, config: dict) -> dict:
        """The voice trial's full config: ``config`` checked, defaults filled in, with ``variant`` set by this encoder."""
        if config.get("variant", self.variant) != self.variant:
            raise UserError(f"voice config variant {config['variant']!r} contradicts voice encoder {self.name!r}; drop `variant` or pass --voice-encoder {config['variant']}")
        return {**check_config(self.hyperparameters, config, "voice"), "variant": self.variant}

    def search_fixed(self) -> dict:
        return {"variant": self.variant}

    def load(self, checkpoint_dir: Path):
        return load_voice_model(checkpoint_dir)

    def window_embeddings(self, prepared, model=None) -> np.ndarray:
        return np.concatenate(list(self.shard_embeddings(prepared, model)))

    @torch.no_grad()
    def shard_embeddings(self, prepared, model=None, batch_size: int = EMBED_BATCH):
        """One voice shard's features and embeddings held at a time."""
        if model is None:
            raise ValueError(f"voice encoder {self.name!r} embeds with a trained model; train it first (the voice stage does)")
        dev = device()
        model = model.to(dev).eval()
        for x in progress(prepared.voice_feature_shards(), f"{self.name} embeddings", total=len(prepared.shard_files("voice")), unit="shard"):
            out = np.empty((len(x), self.embedding_dim), dtype=np.float32)
            for i in range(0, len(x), batch_size):
                out[i : i + batch_size] = model.embed(torch.from_numpy(np.array(x[i : i + batch_size])).to(dev)).cpu().numpy()
            yield out


class PaperText(PaperCNN):
    name = variant = "paper-text"
    description = "the paper's voice CNN as its text describes it, trained here as a speaker classifier (128-d)"


class PaperCode(PaperCNN):
    name = variant = "paper-code"
    description = "the paper's voice CNN as the authors' code builds it, trained here as a speaker classifier (128-d)"
