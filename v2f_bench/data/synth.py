"""The embedded stand-in dataset: synthetic voices and faces in VoxCeleb2's and VGGFace2's real layouts.

``v2f-bench synth OUT`` writes::

    OUT/voxceleb2/vox2_meta.csv                     BOM, trailing spaces, as the real file
    OUT/voxceleb2/dev/aac/idXXXXX/<video>/<nnnnn>.wav|.mp3
    OUT/vggface2/identity_meta.csv
    OUT/vggface2/train/nXXXXXX/NNNN_NN.jpg
    OUT/vggface2/bb_landmark/loose_bb_train.csv, loose_landmark_train.csv
    OUT/synth.json                                   the parameters, for the record

so that the same readers serve real and synthetic data. With nine identities (the default) the
ids are those of the paper's nine (``agarwal9``), joined through the meta file exactly as the real
ones (id03258 <-> n003257); the meta file also lists identities with nothing on disk, as the real
one does. Each identity has a stable voice (``synth_voice``) and face (``synth_face``); clips and
photos vary around them. Voice and face share more than gender: each identity draws latent traits
(age and body size, ``synth_traits``) that tilt a few voice and face parameters at once, with
real people's strengths at ``coupling`` 1 (0 leaves only gender shared); synth.json records each
identity's traits, the latents of its linked voice and face parameters and the links, so that what a voice
can tell about a face is known. Every item is drawn from its own generator seeded by (seed,
identity, item), so the output is byte-identical for a seed however the work is spread over
processes.
"""

from __future__ import annotations

import json
import os
import shutil
import string
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from v2f_bench.data.synth_traits import LINKS, Traits, link_strength, sample_traits
from v2f_bench.errors import UserError
from v2f_bench.progress import progress

AGARWAL9 = (
    ("id00234", "n000234", "f"),
    ("id03258", "n003257", "m"),
    ("id04064", "n004063", "f"),
    ("id04517", "n004516", "m"),
    ("id04606", "n004605", "m"),
    ("id05054", "n005053", "f"),
    ("id06415", "n006414", "m"),
    ("id06553", "n006552", "m"),
    ("id08599", "n008598", "m"),
)
"""The paper's nine identities as (VoxCeleb2 id, VGGFace2 id, gender), from the real vox2_meta.csv."""

_VIDEO_ID_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class SynthConfig:
    """Size and seed of the synthetic dataset."""

    identities: int = 9
    clips_per_identity: int = 36
    """Clips of 4-9 s give about 12 windows each: over 400 windows per identity."""
    min_seconds: float = 4.0
    max_seconds: float = 9.0
    videos_per_identity: int = 6
    """Clips are grouped into this many "YouTube video" folders per identity."""
    photos_per_identity: int = 48
    mp3_fraction: float = 0.5
    """Share of clips written as MP3 (the rest as 16-bit WAV), so both decoders are exercised."""
    sample_rate: int = 16000
    """VoxCeleb's rate; preparation resamples to 22,050 Hz as the authors did."""
    absent_meta_rows: int = 6
    """Extra meta-file identities with no files on disk, as in the real VoxCeleb2 meta file."""
    seed: int = 0
    coupling: float = 1.0
    """Scales the trait links of ``synth_traits.LINKS``: 1 gives their real-people strengths, 0
    leaves only gender shared between voice and face (the dataset as it was before traits), up to 3."""


SMALL = dict(identities=4, clips_per_identity=5, min_seconds=2.0, max_seconds=3.0, videos_per_identity=2, photos_per_identity=16, absent_meta_rows=2)
"""``--small``: a few seconds to generate, for tests and smoke runs."""


@dataclass(frozen=True)
class SynthIdentity:
    voice_id: str
    face_id: str
    gender: str
    name: str


def synth_identities(config: SynthConfig) -> list[SynthIdentity]:
    """The identities written to disk followed by the meta-only ones (``absent_meta_rows`` of them)."""
    rng = np.random.default_rng([config.seed, 1])
    rows = list(AGARWAL9[: config.identities])
    total = config.identities + config.absent_meta_rows
    for k in range(len(rows), total):
        number = 9300 + 7 * k
        rows.append((f"id{number:05d}", f"n{number - 1:06d}", "f" if rng.random() < 0.5 else "m"))
    return [SynthIdentity(v, n, g, f"Synthetic_Person_{k + 1:02d}") for k, (v, n, g) in enumerate(rows)]


def write_synth(out: Path, config: SynthConfig, workers: int | None = None) -> dict:
    """Write the dataset to ``out`` (which must not exist or be empty) and return counts.

    A run that fails or is interrupted removes what it wrote, so no half dataset is left behind.
    """
    _validate(config)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not empty; choose a new directory for the synthetic dataset")
    try:
        return _write(out, config, workers)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _write(out: Path, config: SynthConfig, workers: int | None) -> dict:
    people = synth_identities(config)
    present = people[: config.identities]
    voice_root, face_root = out / "voxceleb2", out / "vggface2"
    try:
        (face_root / "bb_landmark").mkdir(parents=True, exist_ok=True)
        (voice_root / "dev" / "aac").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the dataset folders ({exc.strerror}); choose a writable directory") from None
    _write_vox2_meta(voice_root / "vox2_meta.csv", people)
    _write_identity_meta(face_root / "identity_meta.csv", present, config)
    jobs = [("voice", config, k, person, voice_root) for k, person in enumerate(present)]
    jobs += [("face", config, k, person, face_root) for k, person in enumerate(present)]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    boxes, marks, clips = [], [], 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for kind, rows in progress(pool.map(_render_identity, jobs), "synth identities", total=len(jobs), unit="identity"):
            if kind == "voice":
                clips += rows
            else:
                boxes += rows[0]
                marks += rows[1]
    _write_csv(face_root / "bb_landmark" / "loose_bb_train.csv", "NAME_ID,X,Y,W,H", boxes)
    _write_csv(face_root / "bb_landmark" / "loose_landmark_train.csv", "NAME_ID," + ",".join(f"P{i}X,P{i}Y" for i in range(1, 6)), marks)
    summary = {"identities": len(present), "meta_rows": len(people), "clips": clips, "photos": len(boxes)}
    record = {"config": asdict(config), "summary": summary, "identities": _trait_records(config, present), "links": _link_records(config)}
    (out / "synth.json").write_text(json.dumps(record, indent=1) + "\n")
    return summary


def identity_traits(config: SynthConfig, k: int, gender: str) -> Traits:
    """Identity k's latent traits, from a stream of their own so the other streams are untouched."""
    return sample_traits(np.random.default_rng([config.seed, 7, k]), gender)


def _voice_profile(config: SynthConfig, k: int, person: SynthIdentity):
    from v2f_bench.data.synth_voice import sample_voice_profile

    traits = identity_traits(config, k, person.gender)
    return sample_voice_profile(np.random.default_rng([config.seed, 2, k]), person.gender, traits, config.coupling)


def _face_profile(config: SynthConfig, k: int, person: SynthIdentity):
    from v2f_bench.data.synth_face import sample_face_profile

    traits = identity_traits(config, k, person.gender)
    return sample_face_profile(np.random.default_rng([config.seed, 5, k]), person.gender, traits, config.coupling)


def _trait_records(config: SynthConfig, present: list[SynthIdentity]) -> list[dict]:
    """Per identity on disk: its traits and the latents of its linked voice and face parameters (the
    profiles are drawn again here from their own generators: the very ones the files were rendered from)."""
    from v2f_bench.data.synth_face import face_latents
    from v2f_bench.data.synth_voice import voice_latents

    rows = []
    for k, person in enumerate(present):
        traits = identity_traits(config, k, person.gender)
        rows.append({
            "voice_id": person.voice_id, "face_id": person.face_id, "gender": person.gender, "age": traits.age, "size": traits.size,
            "voice_latents": voice_latents(_voice_profile(config, k, person)), "face_latents": face_latents(_face_profile(config, k, person)),
        })
    return rows


def _link_records(config: SynthConfig) -> list[dict]:
    return [{**asdict(link), "strength": link_strength(link, config.coupling)} for link in LINKS]


def _validate(config: SynthConfig) -> None:
    checks = [
        (config.identities >= 2, "--identities must be at least 2"),
        (config.clips_per_identity >= 1 and config.photos_per_identity >= 1, "clips and photos per identity must be at least 1"),
        (0 < config.min_seconds <= config.max_seconds, "clip durations need 0 < min <= max seconds"),
        (1 <= config.videos_per_identity, "videos per identity must be at least 1"),
        (0.0 <= config.mp3_fraction <= 1.0, "--mp3-fraction must lie in [0, 1]"),
        (0.0 <= config.coupling <= 3.0, f"--coupling {config.coupling}: must lie in [0, 3] (1 = real people's strengths, 0 = only gender shared)"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def _render_identity(job) -> tuple[str, object]:
    kind, config, k, person, root = job
    if kind == "voice":
        return kind, _write_voice(config, k, person, root)
    return kind, _write_faces(config, k, person, root)


def _write_voice(config: SynthConfig, k: int, person: SynthIdentity, root: Path) -> int:
    import soundfile as sf

    from v2f_bench.data.synth_voice import render_clip

    profile = _voice_profile(config, k, person)
    naming = np.random.default_rng([config.seed, 3, k])
    videos = ["".join(naming.choice(list(_VIDEO_ID_CHARS), size=11)) for _ in range(config.videos_per_identity)]
    counters = dict.fromkeys(videos, 0)
    for c in range(config.clips_per_identity):
        rng = np.random.default_rng([config.seed, 4, k, c])
        video = videos[c % len(videos)]
        counters[video] += 1
        duration = rng.uniform(config.min_seconds, config.max_seconds)
        samples = render_clip(profile, rng, duration, config.sample_rate)
        folder = root / "dev" / "aac" / person.voice_id / video
        folder.mkdir(parents=True, exist_ok=True)
        if rng.random() < config.mp3_fraction:
            sf.write(folder / f"{counters[video]:05d}.mp3", samples, config.sample_rate, format="MP3")
        else:
            sf.write(folder / f"{counters[video]:05d}.wav", samples, config.sample_rate, subtype="PCM_16")
    return config.clips_per_identity


def _write_faces(config: SynthConfig, k: int, person: SynthIdentity, root: Path) -> tuple[list[str], list[str]]:
    from v2f_bench.data.synth_face import render_photo

    profile = _face_profile(config, k, person)
    folder = root / "train" / person.face_id
    folder.mkdir(parents=True, exist_ok=True)
    boxes, marks = [], []
    for p in range(config.photos_per_identity):
        rng = np.random.default_rng([config.seed, 6, k, p])
        image, box, landmarks = render_photo(profile, rng)
        name = f"{p + 1:04d}_01"
        image.save(folder / f"{name}.jpg", quality=int(rng.integers(80, 96)))
        boxes.append(f"{person.face_id}/{name}," + ",".join(str(int(round(v))) for v in box))
        marks.append(f"{person.face_id}/{name}," + ",".join(f"{v:.2f}" for point in landmarks for v in point))
    return boxes, marks


def _write_vox2_meta(path: Path, people: list[SynthIdentity]) -> None:
    """The real file's quirks: a UTF-8 BOM, a plain header, a trailing space after every value."""
    lines = ["VoxCeleb2 ID,VGGFace2 ID,Gender,Set"]
    lines += [f"{p.voice_id} ,{p.face_id} ,{p.gender} ,dev " for p in people]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def _write_identity_meta(path: Path, present: list[SynthIdentity], config: SynthConfig) -> None:
    """VGGFace2's format: leading spaces after commas, names in double quotes."""
    lines = ["Class_ID, Name, Sample_Num, Flag, Gender"]
    lines += [f'{p.face_id}, "{p.name}", {config.photos_per_identity}, 1, {p.gender}' for p in present]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

