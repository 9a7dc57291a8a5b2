"""The voice encoders by name.

Adding an encoder: write one module with a ``VoiceEncoder`` subclass and add one line to
``VOICE_ENCODERS`` below (or call ``register_voice_encoder`` from your own code, without editing this file).
"""

from __future__ import annotations

from v2f_bench.errors import UserError
from v2f_bench.registries import lookup, register
from v2f_bench.voice_encoders.base import VoiceEncoder
from v2f_bench.voice_encoders.ge2e import GE2E
from v2f_bench.voice_encoders.paper_cnn import PaperCode, PaperText

VOICE_ENCODERS: dict[str, type[VoiceEncoder]] = {
    "paper-text": PaperText,
    "paper-code": PaperCode,
    "ge2e": GE2E,
}

DEFAULT_VOICE_ENCODER = "paper-text"
"""The paper's encoder (the CNN as the PDF describes it), used when none is named."""


def get_voice_encoder(name: str) -> type[VoiceEncoder]:
    """The encoder class registered as ``name``; ``ValueError`` lists the known names otherwise."""
    return lookup(VOICE_ENCODERS, name, "voice encoder")


def register_voice_encoder(cls: type[VoiceEncoder]) -> type[VoiceEncoder]:
    """Add ``cls`` to ``VOICE_ENCODERS`` under ``cls.name``; usable as a class decorator (rules:
    ``registries.register``, a positive ``embedding_dim``, which the generators are built with, and for a
    trainable encoder the ``hyperparameters`` and ``objective`` that make it the ``voice`` target)."""
    if isinstance(cls, type) and issubclass(cls, VoiceEncoder):
        if not (isinstance(cls.embedding_dim, int) and cls.embedding_dim > 0):
            raise ValueError(f"{cls.__name__}.embedding_dim must be a positive int, got {cls.embedding_dim!r}")
        if cls.trainable and not (cls.hyperparameters and cls.objective and cls.objective[1] in ("max", "min")):
            raise ValueError(f"{cls.__name__} is trainable, so it must declare `hyperparameters` (name -> Hyper) and "
                             f"`objective` (validation metric, 'max' or 'min'), got {cls.objective!r}")
    return register(VOICE_ENCODERS, cls, VoiceEncoder, "voice encoder")


def resolve_voice_encoder(name: str | None, config: dict | None = None, audio_root=None) -> VoiceEncoder:
    """The encoder a stage uses: ``name``, else the one a voice config's ``variant`` names (a paper-CNN
    variant is that encoder's name), else ``DEFAULT_VOICE_ENCODER``. A config whose ``variant`` names
    another encoder than ``name`` is a one-line ``UserError``."""
    variant = (config or {}).get("variant")
    if name is not None and variant is not None and variant != name:
        raise UserError(f"the voice config's variant {variant!r} contradicts --voice-encoder {name}; drop `variant` or pass --voice-encoder {variant}")
    chosen = name or variant or DEFAULT_VOICE_ENCODER
    try:
        return get_voice_encoder(chosen)(audio_root=audio_root)
    except ValueError as exc:
        raise UserError(f"--voice-encoder: {exc}") from None
