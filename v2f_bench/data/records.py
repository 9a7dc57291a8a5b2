"""Plain records shared by the readers, the synthetic generator and preparation.

The readers turn a real or synthetic dataset tree into these records; nothing downstream
looks at the on-disk layout again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Box = tuple[float, float, float, float]
"""A face box as (x, y, width, height) in pixels of the photo, as VGGFace2's loose_bb files give it."""

Landmarks = tuple[tuple[float, float], ...]
"""Five (x, y) points in VGGFace2's order: left eye, right eye, nose, left mouth corner, right mouth corner.

"Left" is the left of the picture as seen (the person's right eye), as in VGGFace2 and MTCNN.
"""


@dataclass(frozen=True)
class Identity:
    """One person present in both modalities, joined through the voice dataset's meta file."""

    voice_id: str
    """The VoxCeleb id, e.g. ``id00234``."""
    face_id: str
    """The face dataset's class: a VGGFace2 id like ``n000234`` or a VGGFace1 name like ``A.J._Buckley``."""
    gender: str = ""
    meta_row: int | None = field(default=None, compare=False)
    """The identity's data row in the voice meta file (0-based, the header and blank lines not counted, as pandas
    numbers it; malformed rows count): what the ``sf2f`` split protocol reads. Where the row is, not who the identity
    is, so equality ignores it."""


@dataclass(frozen=True)
class Clip:
    """One voice clip on disk."""

    voice_id: str
    path: Path
    video_id: str
    rel: str
    """Path relative to the dataset root, used as the clip's stable name in manifests."""


@dataclass(frozen=True)
class Photo:
    """One face photo on disk, with the box and landmarks the dataset provides (if any)."""

    face_id: str
    path: Path
    rel: str
    box: Box | None = None
    landmarks: Landmarks | None = None


@dataclass(frozen=True)
class Skipped:
    """An item left out, and why. Every skip is counted and listed in the manifest."""

    kind: str
    """What was skipped: ``clip``, ``photo``, ``identity`` or ``meta``."""
    item: str
    """A file or folder relative to its dataset root, a voice or face id, or ``<meta file>:<line>``."""
    reason: str


@dataclass
class VoiceCorpus:
    """What a voice-dataset reader found: the meta join, the clips per identity, and what it skipped."""

    root: Path
    meta_file: Path
    identities: dict[str, Identity]
    """Every row of the meta file, keyed by voice id."""
    clips: dict[str, list[Clip]]
    """Clips found on disk, keyed by voice id, sorted by ``rel``."""
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class FaceCorpus:
    """What a face-dataset reader found: photos per face id, and what it skipped."""

    root: Path
    photos: dict[str, list[Photo]]
    """Photos found on disk, keyed by face id, sorted by ``rel``."""
    skipped: list[Skipped] = field(default_factory=list)
