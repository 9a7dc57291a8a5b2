"""Readers for the real dataset layouts: VoxCeleb1/2 voices, VGGFace1/2 faces, and the identity join.

Each reader walks one on-disk layout and returns the plain records of
:mod:`v2f_bench.data.records`. Nothing is decoded here: audio and images are only located,
so placeholder files are enough for tests.

Problems with single items (a malformed meta row, a clip with an unknown extension, a listed
photo that was never downloaded) become :class:`Skipped` entries, so every omission can be
counted in the manifest. A folder that is skipped (a speaker folder without a meta row, an
oddly named one) is one entry, and every file under it is one more, so nothing a reader looks
at disappears without a trace. A file that is not in the expected format at all, or a missing
root folder, raises :class:`UserError` with a one-line message naming the file.

Conventions shared by all readers:

- text files are read as UTF-8; a leading BOM and the whitespace around every field are stripped;
- names starting with ``.`` (``.DS_Store``, ``._foo.jpg``) are ignored without a skip entry;
- extensions are matched case-insensitively;
- ``only`` (a set of ids, or ``None`` for all) limits a scan to those identity folders, so a
  few identities of a huge dataset are found without listing the whole tree;
- records are sorted by ``rel``, the path relative to the dataset root as a posix string.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from v2f_bench.data.records import Box, Clip, FaceCorpus, Identity, Photo, Skipped, VoiceCorpus
from v2f_bench.errors import UserError

AUDIO_EXTENSIONS = (".m4a", ".wav", ".mp3", ".flac", ".ogg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

PRESETS: dict[str, list[str]] = {
    "agarwal9": [
        "id00234",
        "id03258",
        "id04064",
        "id04517",
        "id04606",
        "id05054",
        "id06415",
        "id06553",
        "id08599",
    ],
}
"""Named identity lists. ``agarwal9``: the nine VoxCeleb2 speakers the paper's authors used."""

VOICE_ID = re.compile(r"id\d{5}")
VGGFACE2_ID = re.compile(r"n\d{6}")
_IDEN_SPLIT_LINE = re.compile(r"([123])\s+(id\d{5}/[^/\s]+/[^/\s]+)")
_BOM = "\ufeff"
_SNIPPET = 80


@dataclass(frozen=True)
class _MetaFormat:
    """How one VoxCeleb meta file is laid out."""

    dataset: str
    file_name: str
    columns: tuple[str, ...]
    delimiter: str
    face_id: re.Pattern[str] | None

    @property
    def separator_name(self) -> str:
        return "tab" if self.delimiter == "\t" else "comma"

    @property
    def header_text(self) -> str:
        return self.delimiter.join(self.columns)


_VOX1 = _MetaFormat(
    "VoxCeleb1", "vox1_meta.csv", ("VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"), "\t", None
)
_VOX2 = _MetaFormat("VoxCeleb2", "vox2_meta.csv", ("VoxCeleb2 ID", "VGGFace2 ID", "Gender", "Set"), ",", VGGFACE2_ID)

_BOX_COLUMNS = ("NAME_ID", "X", "Y", "W", "H")
_LANDMARK_COLUMNS = ("NAME_ID",) + tuple(f"P{i}{axis}" for i in range(1, 6) for axis in "XY")
_IDENTITY_META_COLUMNS = ("Class_ID", "Name", "Sample_Num", "Flag", "Gender")


# ---------------------------------------------------------------------------------------------
# Small shared helpers


def _clean(field: str) -> str:
    """A field without BOM characters and surrounding whitespace."""
    return field.replace(_BOM, "").strip()


def _snippet(text: str) -> str:
    """A short, single-line rendering of ``text`` for an error message."""
    return repr(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))


def _read_text(path: Path, what: str, hint: str) -> str:
    """The whole file as text, or a one-line UserError saying why it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found; {hint}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror}); {hint}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text, so not {what}; {hint}") from None


def _existing_dir(path: Path, what: str, hint: str) -> Path:
    """``path`` if it is a folder, else a one-line UserError."""
    if not path.is_dir():
        raise UserError(f"{path}: {what} not found; {hint}")
    return path


def _visible(folder: Path) -> list[os.DirEntry[str]]:
    """Entries of ``folder`` sorted by name, without hidden (dot) files."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _rel(path: Path | str, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def _files_under(folder: Path) -> list[Path]:
    """Every visible file below ``folder``, at any depth, sorted by path."""
    found = []
    for entry in _visible(folder):
        if entry.is_dir():
            found.extend(_files_under(Path(entry.path)))
        else:
            found.append(Path(entry.path))
    return found


def _skip_folder(
    root: Path, folder: Path, skipped: list[Skipped], kind: str, item: str, reason: str, file_kind: str, file_reason: str
) -> None:
    """Skip ``folder`` (one entry, ``kind``/``item``/``reason``) and each file under it (``file_kind``, ``file_reason``).

    The files are listed one by one because the manifest promises that every file left out is
    named: a folder entry alone would hide how many clips or photos went with it.
    """
    skipped.append(Skipped(kind, item, reason))
    skipped.extend(Skipped(file_kind, _rel(path, root), file_reason) for path in _files_under(folder))


def _bad_extension(name: str, allowed: tuple[str, ...]) -> str | None:
    """Why a file name's extension is not in ``allowed``, or None when it is."""
    suffix = Path(name).suffix
    if suffix.lower() in allowed:
        return None
    shown = repr(suffix) if suffix else "no extension"
    return f"unsupported extension {shown} (expected one of {', '.join(allowed)})"


def _finite_floats(values: list[str]) -> tuple[float, ...] | str:
    """The values as finite floats, or a reason naming the first bad one."""
    numbers = []
    for value in values:
        try:
            number = float(value)
        except ValueError:
            return f"non-numeric value {value!r}"
        if not math.isfinite(number):
            return f"non-finite value {value!r}"
        numbers.append(number)
    return tuple(numbers)


def _id_set(only: Iterable[str] | None) -> set[str] | None:
    return None if only is None else {_clean(i) for i in only}


# ---------------------------------------------------------------------------------------------
# VoxCeleb meta files


def read_vox1_meta(path: str | Path) -> tuple[dict[str, Identity], list[Skipped]]:
    """Read VoxCeleb1's ``vox1_meta.csv`` (tab-separated) into identities keyed by voice id.

    The header must be ``VoxCeleb1 ID, VGGFace1 ID, Gender, Nationality, Set`` (tab-separated);
    ``face_id`` is the VGGFace1 name (``A.J._Buckley``). Malformed rows (wrong field count, a
    voice id not like ``id10001``, a repeated voice or face id) are returned as ``Skipped(kind="meta")`` with
    ``item="vox1_meta.csv:<line>"``. An empty, non-UTF-8 or wrongly laid out file raises UserError.
    """
    return _read_voice_meta(Path(path), _VOX1)


def read_vox2_meta(path: str | Path) -> tuple[dict[str, Identity], list[Skipped]]:
    """Read VoxCeleb2's ``vox2_meta.csv`` (comma-separated) into identities keyed by voice id.

    The header must be ``VoxCeleb2 ID,VGGFace2 ID,Gender,Set``. The real file starts with a BOM
    and has trailing spaces after every value; both are stripped. The face id is always taken
    from the file, never derived from the voice id (``id03258`` joins to ``n003257``). Malformed
    rows become ``Skipped(kind="meta")``, as in :func:`read_vox1_meta`.
    """
    return _read_voice_meta(Path(path), _VOX2)


def meta_ids_not_on_disk(voices: VoiceCorpus, faces: FaceCorpus) -> list[str]:
    """The voice ids of meta-file rows with neither clips in ``voices`` nor photos in ``faces``, sorted.

    :func:`select_identities` does not list these rows as skipped when it picks identities by
    itself (the real VoxCeleb2 meta file has 6,114 rows, most of them absent from a partial
    download): nothing of them was on disk to drop. Preparation lists them separately. When the
    corpora were scanned with ``only``, rows outside ``only`` are included too, since their
    folders were not looked at.
    """
    return sorted(
        voice_id
        for voice_id, identity in voices.identities.items()
        if not voices.clips.get(voice_id) and not faces.photos.get(identity.face_id)
    )


def _read_voice_meta(path: Path, fmt: _MetaFormat) -> tuple[dict[str, Identity], list[Skipped]]:
    hint = f"pass the {fmt.file_name} that ships with {fmt.dataset}"
    lines = _read_text(path, f"a {fmt.dataset} meta file", hint).splitlines()
    numbered = [(no, line) for no, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise UserError(f"{path}: file is empty; expected a {fmt.dataset} meta file with header {fmt.header_text!r}")
    _check_voice_header(path, fmt, numbered[0][1], hint)
    identities: dict[str, Identity] = {}
    voice_of_face: dict[str, str] = {}
    skipped: list[Skipped] = []
    for row, (no, line) in enumerate(numbered[1:]):
        fields = [_clean(f) for f in line.split(fmt.delimiter)]
        problem = _voice_row_problem(fields, fmt, identities, voice_of_face)
        if problem:
            skipped.append(Skipped("meta", f"{path.name}:{no}", problem))
            continue
        identities[fields[0]] = Identity(voice_id=fields[0], face_id=fields[1], gender=fields[2], meta_row=row)
        voice_of_face[fields[1]] = fields[0]
    return identities, skipped


def _check_voice_header(path: Path, fmt: _MetaFormat, line: str, hint: str) -> None:
    header = tuple(_clean(f) for f in line.split(fmt.delimiter))
    if header != fmt.columns:
        raise UserError(
            f"{path}: not a {fmt.dataset} meta file: expected the {fmt.separator_name}-separated header "
            f"{fmt.header_text!r}, found {_snippet(_clean(line))}; {hint}"
        )


def _voice_row_problem(
    fields: list[str], fmt: _MetaFormat, seen: dict[str, Identity], voice_of_face: dict[str, str]
) -> str | None:
    """Why a meta row cannot be used, or None when it is fine.

    A face id that an earlier row already joins to another voice is refused: two identities
    sharing one face folder would share its photos, and the labels could only go to one of them.
    """
    if len(fields) != len(fmt.columns):
        return f"expected {len(fmt.columns)} {fmt.separator_name}-separated fields, found {len(fields)}"
    voice_id, face_id = fields[0], fields[1]
    if not VOICE_ID.fullmatch(voice_id):
        return f"voice id {voice_id!r} is not like id00012"
    if not face_id or (fmt.face_id is not None and not fmt.face_id.fullmatch(face_id)):
        return f"face id {face_id!r} is not a {fmt.columns[1]}"
    if voice_id in seen:
        return f"voice id {voice_id} repeats an earlier row"
    if face_id in voice_of_face:
        return f"face id {face_id} is already joined to voice id {voice_of_face[face_id]} by an earlier row"
    return None


def read_iden_split(path: str | Path) -> dict[str, int]:
    """Read VoxCeleb1's ``iden_split.txt``: clip path (``idXXXXX/<yt>/<nnnnn>.wav``) -> 1, 2 or 3.

    1, 2 and 3 are VoxCeleb1's train, validation and test sets. The file is small and fixed, so
    any malformed line means the wrong file was given and raises UserError naming the line.
    """
    path = Path(path)
    hint = "pass iden_split.txt from the VoxCeleb1 download"
    split: dict[str, int] = {}
    for no, line in enumerate(_read_text(path, "VoxCeleb1's iden_split.txt", hint).splitlines(), start=1):
        if not line.strip():
            continue
        match = _IDEN_SPLIT_LINE.fullmatch(_clean(line))
        if not match:
            raise UserError(
                f"{path}:{no}: expected '<1|2|3> idXXXXX/<video>/<clip>.wav', found {_snippet(line)}; {hint}"
            )
        split[match.group(2)] = int(match.group(1))
    if not split:
        raise UserError(f"{path}: file is empty; {hint}")
    return split


# ---------------------------------------------------------------------------------------------
# VoxCeleb audio trees


def scan_voxceleb1(
    root: str | Path, meta_file: str | Path | None = None, only: Iterable[str] | None = None
) -> VoiceCorpus:
    """Find VoxCeleb1 clips at ``root/wav/idXXXXX/<youtube_id>/<nnnnn>.wav``.

    ``meta_file`` defaults to ``root/vox1_meta.csv``. Files with an extension outside
    AUDIO_EXTENSIONS are skipped (kind ``clip``); speaker folders without a meta row are skipped
    (kind ``identity``, and each file in them as ``clip``). A missing root, ``wav`` folder or meta
    file raises UserError.
    """
    root = _existing_dir(Path(root), "VoxCeleb1 root folder", "pass the folder that holds wav/ and vox1_meta.csv")
    meta_path = Path(meta_file) if meta_file is not None else root / _VOX1.file_name
    identities, skipped = read_vox1_meta(meta_path)
    wav = _existing_dir(root / "wav", "VoxCeleb1 audio folder", "expected clips at wav/idXXXXX/<video>/<clip>.wav")
    clips = _scan_speakers(root, [wav], identities, _id_set(only), meta_path.name, skipped)
    return VoiceCorpus(root=root, meta_file=meta_path, identities=identities, clips=clips, skipped=skipped)


def scan_voxceleb2(
    root: str | Path,
    meta_file: str | Path | None = None,
    only: Iterable[str] | None = None,
    subsets: Iterable[str] = ("dev", "test"),
) -> VoiceCorpus:
    """Find VoxCeleb2 clips at ``root/<subset>/aac/idXXXXX/<youtube_id>/<nnnnn>.<ext>``.

    ``ext`` is any of AUDIO_EXTENSIONS (m4a as shipped, or a converted format). Subset folders
    that are absent are passed over (many people download only ``dev``), but at least one must
    exist. ``meta_file`` defaults to ``root/vox2_meta.csv``. Skips follow :func:`scan_voxceleb1`.
    """
    root = _existing_dir(Path(root), "VoxCeleb2 root folder", "pass the folder that holds dev/aac and vox2_meta.csv")
    meta_path = Path(meta_file) if meta_file is not None else root / _VOX2.file_name
    identities, skipped = read_vox2_meta(meta_path)
    names = (subsets,) if isinstance(subsets, str) else tuple(subsets)
    audio_dirs = [root / name / "aac" for name in names if (root / name / "aac").is_dir()]
    if not audio_dirs:
        expected = " or ".join(f"{name}/aac" for name in names)
        raise UserError(f"{root}: no VoxCeleb2 audio folder; expected {expected} under this root")
    clips = _scan_speakers(root, audio_dirs, identities, _id_set(only), meta_path.name, skipped)
    return VoiceCorpus(root=root, meta_file=meta_path, identities=identities, clips=clips, skipped=skipped)


def _scan_speakers(
    root: Path,
    audio_dirs: list[Path],
    identities: dict[str, Identity],
    only: set[str] | None,
    meta_name: str,
    skipped: list[Skipped],
) -> dict[str, list[Clip]]:
    """Clips of every speaker folder under ``audio_dirs``, keyed by voice id, sorted by rel."""
    clips: dict[str, list[Clip]] = {}
    for audio_dir in audio_dirs:
        for speaker_dir in _id_folders(root, audio_dir, only, VOICE_ID, "a VoxCeleb id like id00012", skipped, "clip"):
            voice_id = speaker_dir.name
            if voice_id not in identities:
                where = _rel(speaker_dir, root)
                reason = f"folder {where} has no row in {meta_name}"
                file_reason = f"in folder {where}, which has no row in {meta_name}"
                _skip_folder(root, speaker_dir, skipped, "identity", voice_id, reason, "clip", file_reason)
                continue
            clips.setdefault(voice_id, []).extend(_speaker_clips(root, speaker_dir, skipped))
    return {voice_id: sorted(found, key=lambda c: c.rel) for voice_id, found in clips.items() if found}


def _id_folders(
    root: Path,
    parent: Path,
    only: set[str] | None,
    pattern: re.Pattern[str],
    expected: str,
    skipped: list[Skipped],
    file_kind: str,
) -> Iterator[Path]:
    """The identity folders in ``parent``: those named in ``only``, or every well-named one.

    Stray files beside the folders are skipped as ``file_kind``, oddly named folders as ``identity``
    (with every file inside them as ``file_kind``).
    """
    if only is not None:
        yield from (parent / name for name in sorted(only) if (parent / name).is_dir())
        return
    for entry in _visible(parent):
        if not entry.is_dir():
            skipped.append(Skipped(file_kind, _rel(entry.path, root), "file outside any identity folder"))
        elif not pattern.fullmatch(entry.name):
            where = _rel(entry.path, root)
            reason = f"folder name is not {expected}"
            _skip_folder(root, Path(entry.path), skipped, "identity", where, reason, file_kind, f"in folder {where}: {reason}")
        else:
            yield Path(entry.path)


def _speaker_clips(root: Path, speaker_dir: Path, skipped: list[Skipped]) -> list[Clip]:
    """The clips in ``speaker_dir/<video>/``; anything else is skipped with a reason."""
    clips = []
    for video in _visible(speaker_dir):
        if not video.is_dir():
            reason = "file directly in a speaker folder, not in a video folder"
            skipped.append(Skipped("clip", _rel(video.path, root), reason))
            continue
        for entry in _visible(Path(video.path)):
            rel = _rel(entry.path, root)
            if entry.is_dir():
                reason = "unexpected folder inside a video folder"
                _skip_folder(root, Path(entry.path), skipped, "clip", rel, reason, "clip", f"in {rel}, an {reason}")
                continue
            problem = _bad_extension(entry.name, AUDIO_EXTENSIONS)
            if problem:
                skipped.append(Skipped("clip", rel, problem))
            else:
                clips.append(Clip(voice_id=speaker_dir.name, path=Path(entry.path), video_id=video.name, rel=rel))
    return clips


# ---------------------------------------------------------------------------------------------
# VGGFace2


def read_vggface2_identity_meta(path: str | Path) -> dict[str, tuple[str, str]]:
    """Read VGGFace2's ``identity_meta.csv``: class id -> (name, gender).

    Columns are ``Class_ID, Name, Sample_Num, Flag, Gender`` with spaces after the commas and
    names in double quotes that may themselves contain commas. Malformed rows are left out here;
    :func:`scan_vggface2` reports them as ``Skipped(kind="meta")``.
    """
    return _read_identity_meta(Path(path))[0]


def scan_vggface2(
    root: str | Path, subsets: Iterable[str] = ("train", "test"), only: Iterable[str] | None = None
) -> FaceCorpus:
    """Find VGGFace2 photos at ``root/<subset>/nXXXXXX/NNNN_NN.jpg``, with their boxes and landmarks.

    VGGFace2 ships its classes in two disjoint halves, ``train`` and ``test``, and the VoxCeleb2
    meta file names classes of both, so both are read. Subset folders that are absent are passed
    over, as in :func:`scan_voxceleb2`, but at least one must exist. Optional files, read when present:

    - ``root/identity_meta.csv``: class folders it does not list are skipped (kind ``identity``,
      and each photo in them as ``photo``);
    - ``root/bb_landmark/loose_bb_<subset>.csv`` (``NAME_ID,X,Y,W,H``) gives ``Photo.box``;
    - ``root/bb_landmark/loose_landmark_<subset>.csv`` (``NAME_ID,P1X,P1Y,...,P5X,P5Y``) gives
      ``Photo.landmarks``.

    A photo without a row gets ``None``. Malformed rows are skipped (kind ``meta``); a box or
    landmark file with the wrong header raises UserError. Rows of classes without a folder on
    disk (or outside ``only``) are passed over unparsed: the real files hold about 3 million rows.
    """
    names = (subsets,) if isinstance(subsets, str) else tuple(subsets)
    root = _existing_dir(Path(root), "VGGFace2 root folder", f"pass the folder that holds {' and/or '.join(n + '/' for n in names)} and bb_landmark/")
    image_dirs = [root / name for name in names if (root / name).is_dir()]
    if not image_dirs:
        expected = " or ".join(f"{name}/nXXXXXX/*.jpg" for name in names)
        raise UserError(f"{root}: VGGFace2 {' or '.join(names)} folder not found; expected photos at {expected}")
    skipped: list[Skipped] = []
    known = _optional_identity_meta(root / "identity_meta.csv", skipped)
    photos: dict[str, list[Photo]] = {}
    for image_dir in image_dirs:
        for face_id, found in _vggface2_subset(root, image_dir, known, _id_set(only), skipped).items():
            photos[face_id] = sorted(photos.get(face_id, []) + found, key=lambda p: p.rel)
    return FaceCorpus(root=root, photos=photos, skipped=skipped)


def _vggface2_subset(
    root: Path, image_dir: Path, known: dict[str, tuple[str, str]] | None, only: set[str] | None, skipped: list[Skipped]
) -> dict[str, list[Photo]]:
    """The photos of one subset folder (``train`` or ``test``), keyed by class id."""
    subset = image_dir.name
    expected = "a VGGFace2 class like n000001"
    class_dirs = list(_id_folders(root, image_dir, only, VGGFACE2_ID, expected, skipped, "photo"))
    on_disk = {class_dir.name for class_dir in class_dirs}
    boxes = _optional_table(root / "bb_landmark" / f"loose_bb_{subset}.csv", _BOX_COLUMNS, on_disk, skipped)
    marks = _optional_table(root / "bb_landmark" / f"loose_landmark_{subset}.csv", _LANDMARK_COLUMNS, on_disk, skipped)
    photos: dict[str, list[Photo]] = {}
    for class_dir in class_dirs:
        if known is not None and class_dir.name not in known:
            reason = "class folder has no row in identity_meta.csv"
            file_reason = f"in class folder {_rel(class_dir, root)}, which has no row in identity_meta.csv"
            _skip_folder(root, class_dir, skipped, "identity", class_dir.name, reason, "photo", file_reason)
            continue
        found = _vggface2_photos(root, class_dir, boxes, marks, skipped)
        if found:
            photos[class_dir.name] = found
    return photos


def _vggface2_photos(
    root: Path,
    class_dir: Path,
    boxes: dict[str, tuple[float, ...]],
    marks: dict[str, tuple[float, ...]],
    skipped: list[Skipped],
) -> list[Photo]:
    photos = []
    for entry in _visible(class_dir):
        rel = _rel(entry.path, root)
        if entry.is_dir():
            reason = "unexpected folder inside a class folder"
            _skip_folder(root, Path(entry.path), skipped, "photo", rel, reason, "photo", f"in {rel}, an {reason}")
            continue
        problem = _bad_extension(entry.name, IMAGE_EXTENSIONS)
        if problem:
            skipped.append(Skipped("photo", rel, problem))
            continue
        key = f"{class_dir.name}/{Path(entry.name).stem}"
        box = boxes.get(key)
        points = marks.get(key)
        landmarks = tuple(zip(points[0::2], points[1::2])) if points else None
        photos.append(Photo(class_dir.name, Path(entry.path), rel, box=box, landmarks=landmarks))
    return sorted(photos, key=lambda p: p.rel)


def _optional_identity_meta(path: Path, skipped: list[Skipped]) -> dict[str, tuple[str, str]] | None:
    if not path.is_file():
        return None
    known, problems = _read_identity_meta(path)
    skipped.extend(problems)
    return known


def _read_identity_meta(path: Path) -> tuple[dict[str, tuple[str, str]], list[Skipped]]:
    known: dict[str, tuple[str, str]] = {}
    skipped: list[Skipped] = []
    for no, fields in _csv_rows(path, _IDENTITY_META_COLUMNS, "VGGFace2's identity_meta.csv"):
        problem = _identity_row_problem(fields, known)
        if problem:
            skipped.append(Skipped("meta", f"{path.name}:{no}", problem))
        else:
            known[fields[0]] = (fields[1], fields[4])
    return known, skipped


def _identity_row_problem(fields: list[str], seen: dict[str, tuple[str, str]]) -> str | None:
    if len(fields) != len(_IDENTITY_META_COLUMNS):
        return f"expected {len(_IDENTITY_META_COLUMNS)} fields, found {len(fields)}"
    if not VGGFACE2_ID.fullmatch(fields[0]):
        return f"class id {fields[0]!r} is not like n000001"
    if not (fields[2].isdigit() and fields[3].isdigit()):
        return f"non-numeric Sample_Num or Flag ({fields[2]!r}, {fields[3]!r})"
    if fields[0] in seen:
        return f"class id {fields[0]} repeats an earlier row"
    return None


def _optional_table(
    path: Path, columns: tuple[str, ...], classes: set[str], skipped: list[Skipped]
) -> dict[str, tuple[float, ...]]:
    """A VGGFace2 box or landmark file as NAME_ID -> numbers, for ``classes`` only; empty when absent."""
    if not path.is_file():
        return {}
    table: dict[str, tuple[float, ...]] = {}
    for no, fields in _csv_rows(path, columns, f"a VGGFace2 {path.stem} file"):
        name = fields[0]
        if name.split("/", 1)[0] not in classes:
            continue
        values = _table_row(fields, columns, table)
        if isinstance(values, str):
            skipped.append(Skipped("meta", f"{path.name}:{no}", values))
        else:
            table[name] = values
    return table


def _table_row(
    fields: list[str], columns: tuple[str, ...], seen: dict[str, tuple[float, ...]]
) -> tuple[float, ...] | str:
    """The numbers of one box/landmark row, or why the row cannot be used."""
    if len(fields) != len(columns):
        return f"expected {len(columns)} fields, found {len(fields)}"
    name = fields[0]
    class_id, _, stem = name.partition("/")
    if not VGGFACE2_ID.fullmatch(class_id) or not stem or "/" in stem:
        return f"NAME_ID {name!r} is not like n000001/0001_01"
    if name in seen:
        return f"NAME_ID {name} repeats an earlier row"
    return _finite_floats(fields[1:])


def _csv_rows(path: Path, columns: tuple[str, ...], what: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cleaned fields) of each non-blank data row, after checking the header."""
    hint = f"expected the header {', '.join(columns)!r}"
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            header = next(reader, None)
            _check_csv_header(path, header, columns, what)
            for row in reader:
                fields = [_clean(f) for f in row]
                if any(fields):
                    yield reader.line_num, fields
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text, so not {what}; {hint}") from None
    except csv.Error as exc:
        raise UserError(f"{path}: not a readable CSV file ({exc}); {hint}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror})") from None


def _check_csv_header(path: Path, header: list[str] | None, columns: tuple[str, ...], what: str) -> None:
    if header is None:
        raise UserError(f"{path}: file is empty; expected {what} with header {','.join(columns)!r}")
    found = tuple(_clean(f) for f in header)
    if found != columns:
        raise UserError(
            f"{path}: not {what}: expected the comma-separated header {','.join(columns)!r}, "
            f"found {_snippet(','.join(found))}"
        )


# ---------------------------------------------------------------------------------------------
# VGGFace1


def scan_vggface1(root: str | Path, only: Iterable[str] | None = None) -> FaceCorpus:
    """Find VGGFace1 photos listed in ``root/files/<Name>.txt`` and downloaded into ``root/images``.

    VGGFace1 ships URLs only. Each line of ``files/<Name>.txt`` reads
    ``id url left top right bottom pose detection_score curation`` (space-separated). This
    project expects the photos downloaded by the user to ``root/images/<Name>/<id>.jpg``
    (``.jpeg`` and ``.png`` are accepted too), where ``<id>`` is the line's first field verbatim.

    The face id is ``<Name>``; ``Photo.box`` is ``(left, top, right - left, bottom - top)`` and
    ``Photo.landmarks`` is None. A listed photo missing on disk is skipped (kind ``photo``), a
    malformed line too (kind ``meta``), and so is a file in ``images/<Name>/`` that no line lists.
    A folder ``images/<Name>/`` without a listing is skipped (kind ``identity``, each file in it as
    ``photo``). A listing whose ``images/<Name>/`` folder does not exist is not read: nothing of
    that name is on disk (most of the 2,622 names, when only some were downloaded).
    """
    root = _existing_dir(Path(root), "VGGFace1 root folder", "pass the folder that holds files/ and images/")
    files_dir = _existing_dir(root / "files", "VGGFace1 files folder", "expected listings at files/<Name>.txt")
    only_ids = _id_set(only)
    skipped: list[Skipped] = []
    photos: dict[str, list[Photo]] = {}
    listings = _vggface1_listings(root, files_dir, only_ids, skipped)
    for listing in listings:
        if not (root / "images" / listing.stem).is_dir():
            continue
        found = _vggface1_photos(root, listing, skipped)
        if found:
            photos[listing.stem] = found
    _unlisted_image_folders(root, {listing.stem for listing in listings}, only_ids, skipped)
    return FaceCorpus(root=root, photos=photos, skipped=skipped)


def _vggface1_listings(root: Path, files_dir: Path, only: set[str] | None, skipped: list[Skipped]) -> list[Path]:
    if only is not None:
        return [files_dir / f"{name}.txt" for name in sorted(only) if (files_dir / f"{name}.txt").is_file()]
    listings = []
    for entry in _visible(files_dir):
        if entry.is_file() and entry.name.endswith(".txt"):
            listings.append(Path(entry.path))
        else:
            skipped.append(Skipped("meta", _rel(entry.path, root), "not a <Name>.txt listing"))
    return listings


def _unlisted_image_folders(root: Path, listed: set[str], only: set[str] | None, skipped: list[Skipped]) -> None:
    """Skip what ``images/`` holds outside the listed names' folders: downloaded photos no listing describes."""
    images = root / "images"
    if not images.is_dir():
        return
    entries = [images / name for name in sorted(only)] if only is not None else [Path(e.path) for e in _visible(images)]
    for entry in entries:
        if entry.name in listed or not entry.exists():
            continue
        where = _rel(entry, root)
        if not entry.is_dir():
            skipped.append(Skipped("photo", where, "file outside any identity folder"))
            continue
        reason = f"folder {where} has no listing files/{entry.name}.txt"
        file_reason = f"in folder {where}, which has no listing files/{entry.name}.txt"
        _skip_folder(root, entry, skipped, "identity", entry.name, reason, "photo", file_reason)


def _vggface1_photos(root: Path, listing: Path, skipped: list[Skipped]) -> list[Photo]:
    name = listing.stem
    listing_rel = _rel(listing, root)
    hint = "expected lines 'id url left top right bottom pose detection_score curation'"
    text = _read_text(listing, "a VGGFace1 listing", hint)
    image_dir = root / "images" / name
    on_disk = set()
    for entry in _visible(image_dir):
        if entry.is_dir():
            rel = _rel(entry.path, root)
            reason = "unexpected folder inside an image folder"
            _skip_folder(root, Path(entry.path), skipped, "photo", rel, reason, "photo", f"in {rel}, an {reason}")
        else:
            on_disk.add(entry.name)
    listed: set[str] = set()
    photos = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = _vggface1_line(line, listed)
        if isinstance(parsed, str):
            skipped.append(Skipped("meta", f"{listing_rel}:{no}", parsed))
            continue
        image_id, box = parsed
        listed.add(image_id)
        file_name = next((image_id + ext for ext in IMAGE_EXTENSIONS if image_id + ext in on_disk), None)
        if file_name is None:
            reason = f"listed in {listing_rel} but not downloaded"
            skipped.append(Skipped("photo", f"images/{name}/{image_id}.jpg", reason))
            continue
        on_disk.discard(file_name)
        path = image_dir / file_name
        photos.append(Photo(face_id=name, path=path, rel=_rel(path, root), box=box))
    skipped.extend(Skipped("photo", f"images/{name}/{f}", f"not listed in {listing_rel}") for f in sorted(on_disk))
    return sorted(photos, key=lambda p: p.rel)


def _vggface1_line(line: str, listed: set[str]) -> tuple[str, Box] | str:
    """(image id, box) from one listing line, or why the line cannot be used."""
    fields = _clean(line).split()
    if len(fields) != 9:
        return f"expected 9 space-separated fields, found {len(fields)}"
    image_id = fields[0]
    if "/" in image_id or "\\" in image_id or image_id in (".", ".."):
        return f"image id {image_id!r} is not a file name"
    if image_id in listed:
        return f"image id {image_id} repeats an earlier line"
    numbers = _finite_floats(fields[2:])
    if isinstance(numbers, str):
        return numbers
    left, top, right, bottom = numbers[:4]
    if right <= left or bottom <= top:
        return f"box ({left}, {top}, {right}, {bottom}) has no area"
    return image_id, (left, top, right - left, bottom - top)


# ---------------------------------------------------------------------------------------------
# Choosing identities


def parse_identity_spec(spec: str) -> list[str]:
    """Turn ``--identities``-style text into voice ids: a preset name or ``id00234,id03258,...``.

    Whitespace around items is ignored and repeated ids are kept once, in first-seen order.
    Anything else raises UserError listing the presets.
    """
    text = spec.strip()
    if text in PRESETS:
        return list(PRESETS[text])
    ids = [_clean(item) for item in text.split(",") if _clean(item)]
    bad = [item for item in ids if not VOICE_ID.fullmatch(item)]
    if not ids or bad:
        presets = ", ".join(sorted(PRESETS))
        raise UserError(
            f"identity list {spec!r} is neither a preset ({presets}) nor comma-separated voice ids like id00234,id03258"
        )
    return list(dict.fromkeys(ids))


def select_identities(
    voices: VoiceCorpus,
    faces: FaceCorpus,
    wanted: list[str] | None,
    min_clips: int = 2,
    min_photos: int = 2,
    max_identities: int | None = None,
) -> tuple[list[Identity], list[Skipped]]:
    """Pick the identities with enough clips and photos, joined through the voice meta file.

    With ``wanted`` (a list of voice ids), each of them is checked and a failing one is skipped
    (kind ``identity``) with the reason: not in the meta file, no clips on disk, no photos for
    its face id, or fewer than ``min_clips`` clips / ``min_photos`` photos (with the numbers).

    With ``wanted=None`` (the paper's rule) the candidates are the meta rows with clips or
    photos on disk, under the same minimums, so a voice without a face and a face without a
    voice are both skipped with the reason. Meta rows with nothing on disk are not listed as
    skipped; count them with :func:`meta_ids_not_on_disk`.

    In both modes, ``max_identities`` keeps that many of the passing identities, those with the
    most clips first (ties broken by voice id); the others are skipped with their clip count.

    Every clip and photo of the corpora that does not go to a chosen identity is skipped too,
    one entry each after its identity's entry, so that what is left out can be counted file by
    file: the files of skipped identities, photos of face ids that no meta row names, and (with
    ``wanted``) files of identities not asked for. Returns the chosen identities sorted by voice
    id, and the skips.
    """
    if max_identities is not None and max_identities < 1:
        raise UserError(f"max_identities must be at least 1, got {max_identities}")
    candidates = _candidates(voices, faces) if wanted is None else list(dict.fromkeys(wanted))
    chosen: list[Identity] = []
    skipped: list[Skipped] = []
    for voice_id in candidates:
        problem = _identity_problem(voices, faces, voice_id, min_clips, min_photos)
        if problem:
            skipped += _skip_identity(voices, faces, voice_id, problem)
        else:
            chosen.append(voices.identities[voice_id])
    kept, dropped = _cap(chosen, voices, max_identities)
    for skip in dropped:
        skipped += _skip_identity(voices, faces, skip.item, skip.reason)
    skipped += _files_outside(voices, faces, set(candidates))
    return sorted(kept, key=lambda i: i.voice_id), skipped


def _candidates(voices: VoiceCorpus, faces: FaceCorpus) -> list[str]:
    """The voice ids of the meta rows with anything on disk: clips, or photos of their face id."""
    with_faces = {v for v, identity in voices.identities.items() if faces.photos.get(identity.face_id)}
    return sorted(set(voices.clips) | with_faces)


def _skip_identity(voices: VoiceCorpus, faces: FaceCorpus, voice_id: str, problem: str) -> list[Skipped]:
    """The identity's skip, then one for each of its clips and photos in the corpora."""
    identity = voices.identities.get(voice_id)
    clips = voices.clips.get(voice_id, [])
    photos = faces.photos.get(identity.face_id, []) if identity else []
    because = f"identity {voice_id} is skipped: {problem}"
    return [
        Skipped("identity", voice_id, problem),
        *(Skipped("clip", clip.rel, because) for clip in clips),
        *(Skipped("photo", photo.rel, because) for photo in photos),
    ]


def _files_outside(voices: VoiceCorpus, faces: FaceCorpus, candidates: set[str]) -> list[Skipped]:
    """Skips for the corpora's files that belong to no candidate: nothing read may vanish unlisted."""
    skipped: list[Skipped] = []
    for voice_id in sorted(set(voices.clips) - candidates):
        skipped += _skip_identity(voices, faces, voice_id, "not among the identities asked for")
    voice_of_face = {identity.face_id: voice_id for voice_id, identity in voices.identities.items()}
    meta = voices.meta_file.name
    for face_id in sorted(faces.photos):
        voice_id = voice_of_face.get(face_id)
        if voice_id in candidates or voice_id in voices.clips:
            continue
        if voice_id is None:
            problem = f"face id that no row of {meta} names: it joins no voice"
            because = f"its face id {face_id} is in no row of {meta}: it joins no voice"
        else:
            problem = f"face id of voice id {voice_id}, which is not among the identities asked for"
            because = f"face id {face_id} is skipped: {problem}"
        skipped.append(Skipped("identity", face_id, problem))
        skipped += [Skipped("photo", photo.rel, because) for photo in faces.photos[face_id]]
    return skipped


def _identity_problem(
    voices: VoiceCorpus, faces: FaceCorpus, voice_id: str, min_clips: int, min_photos: int
) -> str | None:
    """Why ``voice_id`` cannot be used, or None when it has enough of both modalities."""
    identity = voices.identities.get(voice_id)
    if identity is None:
        return f"not in {voices.meta_file.name}"
    n_clips = len(voices.clips.get(voice_id, []))
    n_photos = len(faces.photos.get(identity.face_id, []))
    problems = []
    if n_clips == 0:
        problems.append(f"no clips on disk under {voices.root}")
    elif n_clips < min_clips:
        problems.append(f"{n_clips} clips, fewer than min_clips={min_clips}")
    if n_photos == 0:
        problems.append(f"face id {identity.face_id} has no photos on disk under {faces.root}")
    elif n_photos < min_photos:
        problems.append(f"face id {identity.face_id} has {n_photos} photos, fewer than min_photos={min_photos}")
    return "; ".join(problems) or None


def _cap(
    chosen: list[Identity], voices: VoiceCorpus, max_identities: int | None
) -> tuple[list[Identity], list[Skipped]]:
    """The ``max_identities`` identities with most clips, and skips for the rest."""
    if max_identities is None or len(chosen) <= max_identities:
        return chosen, []
    ranked = sorted(chosen, key=lambda i: (-len(voices.clips[i.voice_id]), i.voice_id))
    dropped = [
        Skipped(
            "identity",
            identity.voice_id,
            f"{len(voices.clips[identity.voice_id])} clips: not among the {max_identities} with most clips",
        )
        for identity in ranked[max_identities:]
    ]
    return ranked[:max_identities], sorted(dropped, key=lambda s: s.item)
