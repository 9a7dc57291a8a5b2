"""Find the voice and face datasets under the paths a user gives, and pick the right readers.

A data root holds one voice dataset and one face dataset side by side, named as they are
distributed (``voxceleb2/`` + ``vggface2/``, or ``voxceleb1/`` + ``vggface1/``); ``v2f-bench synth``
writes such a root. Either dataset can also be given by its own path. The format of each is
recognised from its contents, and the pairs that join through a meta file are enforced:
VoxCeleb1 names VGGFace1 identities, VoxCeleb2 names VGGFace2 ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v2f_bench.data import layouts
from v2f_bench.data.records import FaceCorpus, VoiceCorpus
from v2f_bench.errors import UserError

VOICE_FORMATS = ("voxceleb1", "voxceleb2")
FACE_FORMATS = ("vggface1", "vggface2")
PAIRED_FORMATS = {"voxceleb1": "vggface1", "voxceleb2": "vggface2"}


@dataclass(frozen=True)
class SourcePaths:
    voice_root: Path
    voice_format: str
    face_root: Path
    face_format: str


def detect_voice_format(root: Path) -> str:
    if (root / "wav").is_dir():
        return "voxceleb1"
    if (root / "dev" / "aac").is_dir() or (root / "test" / "aac").is_dir():
        return "voxceleb2"
    raise UserError(f"{root}: not a VoxCeleb tree (expected wav/ for VoxCeleb1 or dev/aac/ or test/aac/ for VoxCeleb2)")


def detect_face_format(root: Path) -> str:
    if (root / "files").is_dir():
        return "vggface1"
    if (root / "train").is_dir() or (root / "test").is_dir():
        return "vggface2"
    raise UserError(f"{root}: not a VGGFace tree (expected files/ for VGGFace1 or train/ or test/ for VGGFace2)")


def resolve_sources(root: Path | None, voices: Path | None, faces: Path | None) -> SourcePaths:
    """Turn the CLI's paths into dataset roots with their formats; one-line errors when they don't fit."""
    if root is not None:
        root = _existing_dir(root, "data root")
        voices = voices or _first_child(root, VOICE_FORMATS, "voice dataset")
        faces = faces or _first_child(root, FACE_FORMATS, "face dataset")
    if voices is None or faces is None:
        raise UserError("give a data root (as written by `v2f-bench synth`) or both --voices DIR and --faces DIR")
    voices = _existing_dir(voices, "voice dataset")
    faces = _existing_dir(faces, "face dataset")
    voice_format, face_format = detect_voice_format(voices), detect_face_format(faces)
    if PAIRED_FORMATS[voice_format] != face_format:
        raise UserError(
            f"{voice_format} ({voices}) joins with {PAIRED_FORMATS[voice_format]}, not {face_format} ({faces}): "
            "its meta file names the other dataset's identities"
        )
    return SourcePaths(voices, voice_format, faces, face_format)


def read_voices(paths: SourcePaths, only: set[str] | None = None) -> VoiceCorpus:
    if paths.voice_format == "voxceleb1":
        return layouts.scan_voxceleb1(paths.voice_root, only=only)
    return layouts.scan_voxceleb2(paths.voice_root, only=only)


def read_faces(paths: SourcePaths, only: set[str] | None = None) -> FaceCorpus:
    if paths.face_format == "vggface1":
        return layouts.scan_vggface1(paths.face_root, only=only)
    return layouts.scan_vggface2(paths.face_root, only=only)


def _existing_dir(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: {what} not found (no such directory)")
    return path


def _first_child(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise UserError(f"{root}: no {what} inside (expected a folder named {' or '.join(names)})")
