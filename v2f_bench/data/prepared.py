"""Raw datasets -> a prepared dataset directory: feature and crop shards, small arrays, splits and a manifest.

Everything downstream (searches, reports) reads only this directory. Its files:

- ``voice/part-NNNNN.parquet``: the shards of every window's features, float32 (60, 41, 2) log-mel and delta (see
  ``audio``), in window order, the windows of ``shard_clips`` clips a shard; ``faces/part-NNNNN.parquet``: the shards of
  every photo's min-max-normalised uint8 crops, one column per size (``face_64``, ``face_96``; see ``faces``),
  ``shard_photos`` photos a shard. Their format is ``shards``;
- ``window_clip.npy`` (W,) int32 clip index, ``window_label.npy`` (W,) int32 identity label,
  ``window_split.npy`` (W,) train/val/test (the generators'; the voice classifier's split is
  derived from it, see ``PreparedDataset.voice_split``); ``photo_label.npy`` and ``photo_split.npy`` (P,);
- ``manifest.json``: every parameter, the identities, every clip and photo used (source file
  relative to its dataset root, identity, split, SHA-256 of the file), every item skipped with its
  reason, counts, every shard (file, first row, rows) and the SHA-256 of every output file, shards included. It is written
  last, so a directory without it is incomplete. For the synthetic stand-in it also keeps ``known_generator`` (``known_generator``):
  the coupling, trait links and each identity's traits and latents from ``synth.json``, from which
  the known answer (``known_answer.py``) is computed; real data has None there.

Memory does not grow with the data: each shard is computed and written by one call (here, or by a Ray task under
``--address``, which writes it itself: into the output folder, or straight to the storage URI of ``--out s3://...``,
which any node of a cluster reaches), and the driver keeps only each item's outcome (its window count, or why it is
unusable). Rows of identities dropped at the end (too few usable items) are filtered out of their shards one shard at
a time.

The cache key is the hash of the parameters, the package version and every input file's
relative path and content hash (and, for the stand-in, of its ``known_generator`` record). Preparing again with the same key and intact outputs reuses the
directory; any change to an input or a parameter recomputes it. A new result is built in a
temporary sibling directory and moved into place only when complete, so a failed run never
damages an earlier result.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from v2f_bench import __version__
from v2f_bench.artifacts import PREPARED_MANIFEST as MANIFEST
from v2f_bench.data import layouts, remote, shards, sources
from v2f_bench.data.audio import FEATURE_BACKENDS, AudioError, FeatureParams, clips_features, load_clip
from v2f_bench.data.faces import FaceError, FaceParams, face_crops
from v2f_bench.data.records import Clip, Identity, Photo, Skipped
from v2f_bench.data.splits import DEFAULT_FRACTIONS, SPLIT_NAMES, SPLIT_PROTOCOLS, assign_splits, check_identity_rule, voice_split
from v2f_bench.errors import UserError
from v2f_bench.hashing import sha256_file, sha256_json
from v2f_bench.parallel import BATCH_SIZE, map_batches
from v2f_bench.progress import progress
from v2f_bench.storage import Location, is_uri

FORMAT = "v2f_bench.prepared/2"
VOICE_SHARDS = "voice"
"""The folder of the voice-feature shards, and their kind in the manifest's ``shards``."""
FACE_SHARDS = "faces"
VOICE_COLUMN = "features"

CLIPS_PER_CALL = BATCH_SIZE
"""Clips whose features one call computes, here and on a Ray worker alike (see ``voice_features``)."""


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that decides the content of a prepared dataset (all of it enters the cache key)."""

    identities: str | None = None
    """A preset name (``agarwal9``) or comma-separated voice ids; None applies the paper's rule (minimum clips)."""
    min_clips: int = 3
    """Identities with fewer usable clips are skipped (three lets every identity have a train, val and test clip)."""
    min_photos: int = 3
    """Identities with fewer usable photos are skipped."""
    max_identities: int | None = None
    """With the paper's rule, keep at most this many identities, those with the most clips."""
    protocol: str = "paper"
    """One of ``splits.SPLIT_PROTOCOLS``."""
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    """Train, val and test fractions."""
    seed: int = 0
    """Seeds the split draws."""
    backend: str = "librosa"
    """Feature backend: ``librosa`` (the reference) or ``torch`` (batched)."""
    features: FeatureParams = field(default_factory=FeatureParams)
    faces: FaceParams = field(default_factory=FaceParams)
    shard_clips: int = 64
    """Clips per voice shard: at VoxCeleb's 8 s a clip, about 5,000 windows, 100 MB of features (see ``shards``)."""
    shard_photos: int = 512
    """Photos per face shard: about 20 MB of 64- and 96-pixel crops."""

    def validate(self) -> None:
        if self.protocol not in SPLIT_PROTOCOLS:
            raise UserError(f"--protocol {self.protocol!r}: choose one of {', '.join(SPLIT_PROTOCOLS)}")
        if self.backend not in FEATURE_BACKENDS:
            raise UserError(f"--backend {self.backend!r}: choose one of {', '.join(FEATURE_BACKENDS)}")
        if self.min_clips < 1 or self.min_photos < 1:
            raise UserError("--min-clips and --min-photos must be at least 1")
        if self.max_identities is not None and self.max_identities < 1:
            raise UserError("--max-identities must be at least 1")
        if self.shard_clips < 1 or self.shard_photos < 1:
            raise UserError("--shard-clips and --shard-photos must be at least 1")


@dataclass
class PrepareResult:
    out: Path | str
    """The prepared dataset: a local folder, or the storage URI it was published to."""
    manifest: dict
    reused: bool


@dataclass
class _Computed:
    """Per-item outcomes of the expensive stage, in input order, and the shards it wrote (features and crops themselves
    stay in the shards: the driver never holds them)."""

    clip_windows: list[int | str]
    """Per clip: its number of windows, or the reason it is unusable."""
    photo_found: list[tuple[str, str]]
    """Per photo: ("found", how its face was found) or ("skipped", the reason)."""
    voice_shards: list[tuple[str, list[int]]]
    """(file relative to the dataset, the input positions of the clips it holds) of every voice shard job, in order."""
    face_shards: list[tuple[str, list[int]]]


def prepare(paths: sources.SourcePaths, out: Path | str, config: PrepareConfig, address: str | None = None) -> PrepareResult:
    """Prepare ``paths`` into ``out``; reuse ``out`` when its cache key matches. See the module docstring.

    An ``out`` that is a storage URI (``_prepare_at_uri``) is reused when it holds this dataset already; otherwise the
    shards are written there by whoever computes them (the Ray tasks of ``--address``, on any node), and the small arrays
    and the manifest, built in a local folder of the fetch cache (``remote.default_cache``), follow them."""
    config.validate()
    if not is_uri(out):
        out = Path(out).resolve()  # Ray tasks write the shards: a relative path would land in their working directories
        _check_writable(out)
    identities, clips, photos, skipped, not_on_disk = _select(paths, config)
    check_identity_rule(config.protocol, identities, config.fractions, config.seed)
    inputs = _hash_inputs(identities, clips, photos, _rootless(skipped, paths), meta_rows=config.protocol == "sf2f")
    known = known_generator(paths, identities)
    if known is not None:  # real data keeps its key; a stand-in's key covers the record of how it was made
        inputs["known_generator"] = sha256_json(known)
    cache_key = sha256_json({"format": FORMAT, "version": __version__, "config": _config_dict(config), "inputs": inputs})
    if is_uri(out):
        return _prepare_at_uri(paths, str(out), config, address, (identities, clips, photos, skipped, not_on_disk), cache_key, inputs)
    cached = _reusable(out, cache_key)
    if cached is not None:
        return PrepareResult(out, cached, reused=True)
    with _building(out) as folder:
        computed = _compute(clips, photos, config, address, str(folder))
        manifest = _assemble(paths, config, identities, clips, photos, skipped, not_on_disk, computed, folder, cache_key, inputs)
    return PrepareResult(out, manifest, reused=False)


def _prepare_at_uri(paths, uri: str, config: PrepareConfig, address: str | None, selected: tuple, cache_key: str, inputs: dict) -> PrepareResult:
    """``prepare`` into a storage URI. A URI that holds a complete dataset of this cache key is reused. Otherwise its
    manifest is removed first (no reader may meet it beside shards being overwritten), the shards are written to the URI
    by the processes that compute them, each checksummed as it is read back once there, and the small arrays and the
    manifest, built locally, are published after them (the manifest last: ``remote.publish``)."""
    identities, clips, photos, skipped, not_on_disk = selected
    target = Location.parse(uri)
    held = remote.held(target, cache_key)
    if held is not None:
        return PrepareResult(uri, held, reused=True)
    local = remote.default_cache() / "published" / sha256_json(uri)[:32]
    _check_writable(local)
    target.remove(MANIFEST)
    with _building(local) as folder:
        try:  # here, not in _building: a failure on the bucket must name the URI, not the local folder
            computed = _compute(clips, photos, config, address, uri)
            manifest = _assemble(paths, config, identities, clips, photos, skipped, not_on_disk, computed, folder, cache_key, inputs, shard_root=uri)
        except OSError as exc:
            raise UserError(f"--out {uri}: cannot write the prepared dataset there ({str(exc).splitlines()[0]}); check the URI and its credentials") from None
    remote.publish(local, uri, written={part["file"] for kind in (VOICE_SHARDS, FACE_SHARDS) for part in manifest["shards"][kind]["files"]})
    return PrepareResult(uri, manifest, reused=False)


def known_generator(paths: sources.SourcePaths, identities) -> dict | None:
    """How a synthetic stand-in's identities were made, from the ``synth.json`` that ``v2f-bench synth`` writes beside its
    two datasets: its coupling, its trait links and each given identity's traits and latents (the known answer,
    ``known_answer.py``, is computed from them). None for real data, or when the record does not cover every identity."""
    root = paths.voice_root.parent
    if paths.face_root.parent != root or not (root / "synth.json").is_file():
        return None
    try:
        record = json.loads((root / "synth.json").read_text())
        people = {person["voice_id"]: person for person in record.get("identities", [])}
        coupling = record["config"].get("coupling")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    wanted = [identity.voice_id for identity in identities]
    if not people or coupling is None or any(voice_id not in people for voice_id in wanted):
        return None
    return {"coupling": coupling, "links": record.get("links", []), "identities": [people[voice_id] for voice_id in wanted]}


def _select(paths: sources.SourcePaths, config: PrepareConfig):
    """The chosen identities with their clips and photos, everything skipped so far, and the meta rows not on disk.

    With ``--identities`` only the folders of the identities asked for are read; by default both
    trees are read whole, so a folder of either dataset that joins nothing is listed as skipped
    with its files, never passed over. Every skip a reader or the selection makes is kept.
    """
    wanted = layouts.parse_identity_spec(config.identities) if config.identities else None
    voices = sources.read_voices(paths, only=set(wanted) if wanted else None)
    face_ids = {voices.identities[v].face_id for v in wanted if v in voices.identities} if wanted else None
    faces = sources.read_faces(paths, only=face_ids)
    identities, skipped = layouts.select_identities(
        voices, faces, wanted, min_clips=config.min_clips, min_photos=config.min_photos, max_identities=config.max_identities
    )
    not_on_disk = layouts.meta_ids_not_on_disk(voices, faces) if wanted is None else []
    if not identities:
        raise UserError(f"no usable identity in {paths.voice_root} and {paths.face_root}: " + _skip_digest(skipped + voices.skipped + faces.skipped))
    clips = [clip for identity in identities for clip in voices.clips[identity.voice_id]]
    photos = [photo for identity in identities for photo in faces.photos[identity.face_id]]
    return identities, clips, photos, voices.skipped + faces.skipped + skipped, not_on_disk


def _skip_digest(skipped: Sequence[Skipped]) -> str:
    if not skipped:
        return "nothing was found on disk"
    first = skipped[0]
    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
    return f"{first.kind} {first.item}: {first.reason}{more}"


def _hash_inputs(identities: Sequence[Identity], clips: Sequence[Clip], photos: Sequence[Photo], skipped: Sequence[Skipped],
                 meta_rows: bool = False) -> dict:
    """What decides the output besides the parameters: the identity join, every file's content, every box and landmark set,
    and what the readers and the selection skipped (the manifest lists it, so a new stray folder must not reuse an old list).

    An identity's meta-file row enters only when the split reads it (``meta_rows``, protocol ``sf2f``), so
    the keys of datasets prepared under the other protocols are what they were before rows were recorded."""
    files = {}
    for item in progress([*clips, *photos], "hashing inputs", unit="file"):
        try:
            files[item.rel] = sha256_file(item.path)
        except OSError as exc:
            files[item.rel] = f"unreadable: {exc.strerror or exc}"
    return {
        "identities": [{k: v for k, v in asdict(i).items() if meta_rows or k != "meta_row"} for i in identities],
        "files": files,
        "annotations": {p.rel: [p.box, p.landmarks] for p in photos if p.box is not None or p.landmarks is not None},
        "skipped": [asdict(s) for s in skipped],
    }


def _rootless(skipped: Sequence[Skipped], paths: sources.SourcePaths) -> list[Skipped]:
    """The skips with the dataset roots in their reasons replaced by placeholders, for the cache
    key: the same data read from another mount point must still reuse its prepared directory."""
    roots = sorted([(str(paths.voice_root), "<voices>"), (str(paths.face_root), "<faces>")], key=lambda r: -len(r[0]))

    def strip(reason: str) -> str:
        for root, placeholder in roots:
            reason = reason.replace(root, placeholder)
        return reason

    return [Skipped(s.kind, s.item, strip(s.reason)) for s in skipped]


def _config_dict(config: PrepareConfig) -> dict:
    data = asdict(config)
    data["fractions"] = list(config.fractions)
    return data


def _reusable(out: Path, cache_key: str) -> dict | None:
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("cache_key") != cache_key:
        return None
    for name, digest in manifest.get("outputs", {}).items():
        if not (out / name).is_file() or sha256_file(out / name) != digest:
            return None
    return manifest


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory; choose another path")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UserError(f"--out {out}: exists, is not empty and holds no {MANIFEST}; choose an empty or new directory")
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: {parent} is not writable; choose a directory you can write to")


def _compute(clips: Sequence[Clip], photos: Sequence[Photo], config: PrepareConfig, address: str | None, root: str) -> _Computed:
    """Features and crops, written shard by shard under ``root`` (a local folder or a storage URI) by whoever computes
    them (this process, or the Ray task of each shard, on any node of the cluster), so that only per-item outcomes come
    back: memory stays bounded by the shards in flight."""
    voice_jobs = _shard_jobs(len(clips), config.shard_clips, VOICE_SHARDS)
    face_jobs = _shard_jobs(len(photos), config.shard_photos, FACE_SHARDS)
    base = Location.parse(root)
    for name in (VOICE_SHARDS, FACE_SHARDS):
        base.child(name).makedirs()
    clip_windows = map_batches(_voice_shards, [([clips[i] for i in items], str(base.child(file))) for file, items in voice_jobs], _shard_payload,
                               (config.features, config.backend), address, f"voice features ({config.shard_clips} clips a shard)", "shard", batch_size=1)
    photo_found = map_batches(_face_shards, [([photos[i] for i in items], str(base.child(file))) for file, items in face_jobs], _shard_payload,
                              (config.faces,), address, f"face crops ({config.shard_photos} photos a shard)", "shard", batch_size=1)
    return _Computed(_in_input_order(voice_jobs, clip_windows), _in_input_order(face_jobs, photo_found), voice_jobs, face_jobs)


def _shard_jobs(n_items: int, per_shard: int, folder: str) -> list[tuple[str, list[int]]]:
    """The shards of ``n_items`` items, at most ``per_shard`` each, dealt round-robin: of S shards, shard k holds items
    k, k + S, k + 2S, ... The inputs come grouped by identity, so every shard holds a slice of every identity, and a
    trial that shuffles within shards (``data.batches``) still meets every identity in every stretch of its epoch."""
    count = -(-n_items // per_shard)
    return [(f"{folder}/part-{k:05d}.parquet", list(range(k, n_items, count))) for k in range(count)]


def _in_input_order(jobs: list[tuple[str, list[int]]], outcomes: list[list]) -> list:
    """Per-item outcomes of the shard ``jobs`` put back in the items' input order."""
    ordered: list = [None] * sum(len(items) for _, items in jobs)
    for (_, items), results in zip(jobs, outcomes):
        for i, result in zip(items, results):
            ordered[i] = result
    return ordered


def _shard_payload(job: tuple[Sequence, str]) -> tuple[list, str]:
    """A shard job as it travels to a Ray task: every item's bytes (or why they could not be read), and where to write."""
    items, path = job
    return [_clip_payload(item) if isinstance(item, Clip) else _photo_payload(item) for item in items], path


def _voice_shards(jobs: list[tuple[list, str]], params: FeatureParams, backend: str) -> list[list[int | str]]:
    return [_voice_shard(payloads, path, params, backend) for payloads, path in jobs]


def _voice_shard(payloads: list, path: str, params: FeatureParams, backend: str) -> list[int | str]:
    """Features of a shard's clips, ``CLIPS_PER_CALL`` at a time, written to ``path`` (nothing when none is usable);
    returns each clip's window count or the reason it is unusable."""
    outcomes: list[int | str] = []
    features = []
    for start in range(0, len(payloads), CLIPS_PER_CALL):
        for item in _clip_batch(payloads[start : start + CLIPS_PER_CALL], params, backend):
            outcomes.append(item if isinstance(item, str) else len(item))
            if not isinstance(item, str):
                features.append(item)
    if features:
        where = Location.parse(path)
        shards.write_shard(where.path, {VOICE_COLUMN: np.concatenate(features).astype(np.float32, copy=False)}, filesystem=where.fs)
    return outcomes


def _face_shards(jobs: list[tuple[list, str]], params: FaceParams) -> list[list[tuple[str, str]]]:
    return [_face_shard(payloads, path, params) for payloads, path in jobs]


def _face_shard(payloads: list, path: str, params: FaceParams) -> list[tuple[str, str]]:
    """Crops of a shard's photos, one column per size, written to ``path``; returns ("found", how) or ("skipped", why) per photo."""
    outcomes, crops = [], []
    for item in _photo_batch(payloads, params):
        outcomes.append(("skipped", item) if isinstance(item, str) else ("found", item[1]))
        if not isinstance(item, str):
            crops.append(item[0])
    if crops:
        where = Location.parse(path)
        shards.write_shard(where.path, {face_column(size): np.stack([crop[k] for crop in crops]) for k, size in enumerate(params.sizes)},
                           filesystem=where.fs)
    return outcomes


def face_column(size: int) -> str:
    """The shard column of the ``size`` x ``size`` crops."""
    return f"face_{size}"


def _read(path: Path) -> bytes | str:
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"cannot read file ({exc.strerror or exc})"


def _clip_payload(clip: Clip) -> tuple[bytes, str] | str:
    data = _read(clip.path)
    return data if isinstance(data, str) else (data, clip.path.suffix)


def _photo_payload(photo: Photo) -> tuple | str:
    data = _read(photo.path)
    return data if isinstance(data, str) else (data, photo.box, photo.landmarks)


def voice_features(clips: Sequence[Clip], params: FeatureParams, backend: str, address: str | None) -> list[np.ndarray | str]:
    """Per clip, in order, its features or the reason it is unusable; ``address`` None runs here, else on Ray.

    Clips go out in groups of ``CLIPS_PER_CALL``, one group per call here and one per Ray task: a
    local run pays the per-call costs (thread limits, torch's dispatch) once per group instead of
    once per clip, and memory stays bounded by one group's decoded audio. A clip's features do not
    depend on the clips in its group (tested), and the groups are the same here and on Ray anyway.
    """
    groups = [list(clips[i : i + CLIPS_PER_CALL]) for i in range(0, len(clips), CLIPS_PER_CALL)]
    desc = f"voice features ({CLIPS_PER_CALL} clips a batch)"
    done = map_batches(_clip_groups, groups, _group_payload, (params, backend), address, desc, "batch", batch_size=1)
    return [features for group in done for features in group]


def _group_payload(group: list[Clip]) -> list:
    return [_clip_payload(clip) for clip in group]


def _clip_groups(groups: list[list], params: FeatureParams, backend: str) -> list[list]:
    return [_clip_batch(payloads, params, backend) for payloads in groups]


def _clip_batch(payloads: list, params: FeatureParams, backend: str) -> list:
    """Features for a batch of (bytes, suffix) payloads, computed together; an unusable item becomes its reason string.

    BLAS (and torch) run single-threaded here: summation order depends on the thread count, which
    differs between this process and a Ray worker, and the outputs must be byte-identical either way.
    """
    with _thread_pools(backend).limit(limits=1):
        waveforms = [_waveform_or_reason(item, params) for item in payloads]
        features = iter(clips_features([y for y in waveforms if not isinstance(y, str)], params, backend))
    return [y if isinstance(y, str) else next(features) for y in waveforms]


@functools.cache
def _thread_pools(backend: str):
    """The thread pools of the libraries a backend computes with, found once per process.

    Finding them means inspecting every loaded shared library (about 3 ms with torch loaded, a
    tenth of the torch features of a batch), so it is done once, after importing each library
    whose pool the features use: numpy's and scipy's BLAS, and for torch its OpenMP runtime.
    """
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    if backend == "torch":
        import torch  # noqa: F401
    return ThreadpoolController()


def _waveform_or_reason(item: tuple[bytes, str] | str, params: FeatureParams) -> np.ndarray | str:
    if isinstance(item, str):
        return item
    try:
        return load_clip(item[0], item[1], params)
    except AudioError as exc:
        return str(exc)


def _photo_batch(payloads: list, params: FaceParams) -> list:
    """Crops for a batch of (bytes, box, landmarks) payloads; an unusable item becomes its reason string."""
    out = []
    for item in payloads:
        try:
            out.append(item if isinstance(item, str) else face_crops(item[0], item[1], item[2], params))
        except FaceError as exc:
            out.append(str(exc))
    return out


def _assemble(paths, config, identities, clips, photos, skipped, not_on_disk, computed: _Computed, folder: Path, cache_key, inputs,
              shard_root: str | None = None) -> dict:
    """The small arrays (labels, splits, window -> clip) and the manifest, written into ``folder``; the shards, under
    ``shard_root`` (default ``folder``), lose the rows of identities dropped for too few usable items (each rewritten, one
    at a time)."""
    skipped = list(skipped)
    clip_ok = [not isinstance(n, str) for n in computed.clip_windows]
    photo_ok = [found[0] == "found" for found in computed.photo_found]
    skipped += [Skipped("clip", c.rel, n) for c, n in zip(clips, computed.clip_windows) if isinstance(n, str)]
    skipped += [Skipped("photo", p.rel, found[1]) for p, found in zip(photos, computed.photo_found) if found[0] != "found"]
    kept, dropped = _enough_left(identities, clips, photos, clip_ok, photo_ok, config)
    skipped += dropped
    if not kept:
        raise UserError(f"nothing usable remains after skipping {len(skipped)} items: " + _skip_digest(skipped))
    keep_voice = {i.voice_id for i in kept}
    keep_face = {i.face_id for i in kept}
    clip_keep = [ok and c.voice_id in keep_voice for c, ok in zip(clips, clip_ok)]
    photo_keep = [ok and p.face_id in keep_face for p, ok in zip(photos, photo_ok)]
    clip_index = [i for _, items in computed.voice_shards for i in items if clip_keep[i]]  # the shards' order: windows follow it
    photo_index = [i for _, items in computed.face_shards for i in items if photo_keep[i]]
    label_of_voice = {identity.voice_id: label for label, identity in enumerate(kept)}
    voice_of_face = {identity.face_id: identity.voice_id for identity in kept}
    rows_of_clip = [n if ok else 0 for n, ok in zip(computed.clip_windows, clip_ok)]
    root = Location.parse(shard_root or folder)
    voice_files = _keep_shard_rows(root, computed.voice_shards, rows_of_clip, clip_keep)
    face_files = _keep_shard_rows(root, computed.face_shards, [int(ok) for ok in photo_ok], photo_keep)

    windows = [computed.clip_windows[i] for i in clip_index]
    window_clip = np.repeat(np.arange(len(windows), dtype=np.int32), windows)
    clip_voice = [clips[i].voice_id for i in clip_index]
    photo_voice = [voice_of_face[photos[i].face_id] for i in photo_index]
    clip_split, window_split, photo_split, identity_split = assign_splits(
        config.protocol, clip_voice, window_clip.tolist(), photo_voice, config.fractions, config.seed,
        face_names={i.voice_id: i.face_id for i in kept}, meta_rows={i.voice_id: i.meta_row for i in kept},
    )
    arrays = {
        "window_clip.npy": window_clip,
        "window_label.npy": np.array([label_of_voice[clip_voice[c]] for c in window_clip], dtype=np.int32),
        "window_split.npy": np.array(window_split, dtype="<U5"),
        "photo_label.npy": np.array([label_of_voice[v] for v in photo_voice], dtype=np.int32),
        "photo_split.npy": np.array(photo_split, dtype="<U5"),
    }
    first_window = np.concatenate([[0], np.cumsum(windows)[:-1]]).astype(int)
    clip_rows = [
        {"index": n, "voice_id": clips[i].voice_id, "file": clips[i].rel, "sha256": inputs["files"][clips[i].rel],
         "split": clip_split[n], "n_windows": windows[n], "first_window": int(first_window[n])}
        for n, i in enumerate(clip_index)
    ]
    photo_rows = [
        {"index": n, "face_id": photos[i].face_id, "voice_id": photo_voice[n], "file": photos[i].rel,
         "sha256": inputs["files"][photos[i].rel], "split": photo_split[n], "found_by": computed.photo_found[i][1]}
        for n, i in enumerate(photo_index)
    ]
    identity_rows = [_identity_row(label, identity, clip_rows, photo_rows, identity_split) for label, identity in enumerate(kept)]
    shards = {
        VOICE_SHARDS: {"columns": {VOICE_COLUMN: list(config.features.shape)}, "dtype": "float32", "files": voice_files},
        FACE_SHARDS: {"columns": {face_column(size): [size, size, 3] for size in config.faces.sizes}, "dtype": "uint8", "files": face_files},
    }
    manifest = {
        "format": FORMAT,
        "created_by": f"v2f_bench {__version__}",
        "cache_key": cache_key,
        "sources": {"voice_root": str(paths.voice_root.resolve()), "voice_format": paths.voice_format,
                    "face_root": str(paths.face_root.resolve()), "face_format": paths.face_format},
        "params": _config_dict(config),
        "feature_shape": list(config.features.shape),
        "identities": identity_rows,
        "known_generator": known_generator(paths, kept),
        "clips": clip_rows,
        "photos": photo_rows,
        "shards": shards,
        "skipped": [asdict(s) for s in skipped],
        "meta_identities_not_on_disk": not_on_disk,
        "summary": _summary(identity_rows, clip_rows, photo_rows, arrays, skipped, not_on_disk),
    }
    outputs = {}
    for name, array in arrays.items():
        np.save(folder / name, array, allow_pickle=False)
        outputs[name] = sha256_file(folder / name)
    for part in (*voice_files, *face_files):
        outputs[part["file"]] = part["sha256"]
    manifest["outputs"] = outputs
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _keep_shard_rows(root: Location, jobs: list[tuple[str, list[int]]], rows_of_item: list[int], keep: list[bool]) -> list[dict]:
    """The shards of ``jobs`` with only the rows of kept items (``rows_of_item``: each item's rows in its shard, 0 for an
    unusable one): a shard that loses rows is rewritten, one that keeps none is removed. Returns each remaining shard's
    file, first row, row count and SHA-256, in order (the per-shard checksums of the manifest)."""
    files, first = [], 0
    for file, items in jobs:
        mask = np.repeat([keep[i] for i in items], [rows_of_item[i] for i in items]).astype(bool)
        where = root.child(file)
        if not mask.any():
            root.remove(file)
            continue
        rows = int(mask.sum()) if mask.all() else shards.keep_rows(where.path, mask, filesystem=where.fs)
        files.append({"file": file, "first": first, "rows": rows, "sha256": where.sha256()})
        first += rows
    return files


def _enough_left(identities, clips, photos, clip_ok, photo_ok, config: PrepareConfig):
    """The identities still above the minimums once unusable files are out, and skips for the others.

    A dropped identity's usable clips and photos are skipped as well, each naming the identity,
    since they leave the dataset with it.
    """
    good_clips: dict[str, list[Clip]] = {}
    good_photos: dict[str, list[Photo]] = {}
    for clip in (c for c, ok in zip(clips, clip_ok) if ok):
        good_clips.setdefault(clip.voice_id, []).append(clip)
    for photo in (p for p, ok in zip(photos, photo_ok) if ok):
        good_photos.setdefault(photo.face_id, []).append(photo)
    kept, dropped = [], []
    for identity in identities:
        mine, theirs = good_clips.get(identity.voice_id, []), good_photos.get(identity.face_id, [])
        if len(mine) < config.min_clips or len(theirs) < config.min_photos:
            reason = (f"too few usable items after skipping bad files: {len(mine)} clips (min {config.min_clips}), "
                      f"{len(theirs)} photos (min {config.min_photos})")
            because = f"identity {identity.voice_id} is skipped: {reason}"
            dropped.append(Skipped("identity", identity.voice_id, reason))
            dropped += [Skipped("clip", c.rel, because) for c in mine] + [Skipped("photo", p.rel, because) for p in theirs]
        else:
            kept.append(identity)
    return kept, dropped


def _identity_row(label: int, identity: Identity, clip_rows, photo_rows, identity_split) -> dict:
    mine = [c for c in clip_rows if c["voice_id"] == identity.voice_id]
    return {
        "label": label,
        "voice_id": identity.voice_id,
        "face_id": identity.face_id,
        "gender": identity.gender,
        "meta_row": identity.meta_row,
        "split": identity_split.get(identity.voice_id, "all"),
        "n_clips": len(mine),
        "n_windows": sum(c["n_windows"] for c in mine),
        "n_photos": sum(1 for p in photo_rows if p["voice_id"] == identity.voice_id),
    }


def _summary(identity_rows, clip_rows, photo_rows, arrays, skipped, not_on_disk) -> dict:
    window_split = Counter(arrays["window_split.npy"].tolist())
    photo_split = Counter(arrays["photo_split.npy"].tolist())
    return {
        "identities": len(identity_rows),
        "clips": len(clip_rows),
        "windows": int(len(arrays["window_clip.npy"])),
        "photos": len(photo_rows),
        "windows_per_split": {s: window_split.get(s, 0) for s in SPLIT_NAMES},
        "photos_per_split": {s: photo_split.get(s, 0) for s in SPLIT_NAMES},
        "skipped": dict(Counter(s.kind for s in skipped)),
        "meta_identities_not_on_disk": len(not_on_disk),
    }


@contextlib.contextmanager
def _building(out: Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` to build the dataset in, moved into place when the block completes and removed when
    it fails (so a failed run never damages an earlier result); a write that fails is a one-line ``UserError``."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as exc:
        raise UserError(f"--out {out}: could not write the prepared dataset ({exc.strerror or exc}); free space or choose another directory") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class PreparedDataset:
    """A prepared dataset opened for reading: the small arrays memory-mapped, the large ones in shards.

    ``voice_features`` and ``faces(size)`` read their shards into one array (once, then kept) for the consumers that hold
    a split in memory; ``shard_files`` lists the shards for those that stream them."""

    path: Path
    manifest: dict
    arrays: dict[str, np.ndarray]
    _loaded: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    source: str | None = None
    """The storage URI it was fetched from (``remote.fetch``), whose shards any node of a cluster can read; None for a local folder."""

    @property
    def voice_features(self) -> np.ndarray:
        """(W, 60, 41, 2) float32: every window's log-mel and delta, in window order."""
        return self._column(VOICE_SHARDS, VOICE_COLUMN)

    @property
    def n_windows(self) -> int:
        return int(self.manifest["summary"]["windows"])

    def voice_feature_shards(self) -> Iterator[np.ndarray]:
        """The windows' features shard by shard, in window order: (rows, 60, 41, 2) float32 each, one in memory at a time."""
        spec = self.manifest["shards"][VOICE_SHARDS]
        for path in self.shard_files(VOICE_SHARDS):
            yield shards.read_rows(path, VOICE_COLUMN, spec["dtype"], spec["columns"][VOICE_COLUMN])

    def voice_split(self) -> np.ndarray:
        """The voice classifier's train/val/test label of every window (``splits.voice_split``).

        Derived from the manifest (protocol, fractions, seed, each clip's identity and split) and
        ``window_clip.npy``, not stored, so a dataset prepared before it existed gets the same split
        and the cache key rule is unchanged. Under an identity-disjoint protocol it holds out clips of
        the train identities, and the windows of val and test identities are ``unseen``.
        """
        params = self.manifest["params"]
        clips = self.manifest["clips"]
        return voice_split(params["protocol"], [c["voice_id"] for c in clips], [c["split"] for c in clips],
                           np.asarray(self.arrays["window_clip.npy"]), np.asarray(self.arrays["window_split.npy"]),
                           params["fractions"], params["seed"])

    def faces(self, size: int, keep: bool = True) -> np.ndarray:
        """(P, size, size, 3) uint8: every photo's crop at ``size``, in photo order (kept for the next call unless ``keep``
        is False)."""
        column = face_column(size)
        if column not in self.manifest["shards"][FACE_SHARDS]["columns"]:
            sizes = sorted(int(name.split("_")[1]) for name in self.manifest["shards"][FACE_SHARDS]["columns"])
            raise UserError(f"{self.path}: no {size}x{size} face crops (it has {', '.join(f'{s}x{s}' for s in sizes)})")
        return self._column(FACE_SHARDS, column, keep)

    def shard_files(self, kind: str) -> list[Path]:
        """The files of the ``voice`` or ``faces`` shards, in row order."""
        return [self.path / part["file"] for part in self.manifest["shards"][kind]["files"]]

    def _column(self, kind: str, column: str, keep: bool = True) -> np.ndarray:
        key = f"{kind}/{column}"
        if key not in self._loaded:
            from v2f_bench.data.batches import ShardLayout, whole_column

            try:
                self._loaded[key] = whole_column(ShardLayout.of(self, kind, column, local=True))
            except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                raise UserError(f"{self.path}: its {kind} shards cannot be read ({str(exc).splitlines()[0]}); prepare the dataset again") from None
        return self._loaded[key] if keep else self._loaded.pop(key)


def load_prepared(path: Path | str, verify: bool = False) -> PreparedDataset:
    """Open a prepared dataset; with ``verify`` check every output (array and shard) against its hash in the manifest.
    A storage URI is fetched into the local cache first (``remote.fetch``, which checks every file it copies)."""
    source = str(path) if is_uri(path) else None
    path = remote.fetch(source) if source else Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{path}: not a prepared dataset (no {MANIFEST}); run `v2f-bench prepare` first")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise UserError(f"{manifest_path}: not valid JSON ({exc}); prepare the dataset again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs"), dict):
        raise UserError(f"{manifest_path}: not a prepared-dataset manifest (no outputs table); prepare the dataset again")
    if manifest.get("format") != FORMAT:
        raise UserError(f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT!r}; prepare the dataset again")
    arrays = {}
    for name, digest in manifest["outputs"].items():
        file = path / name
        if not file.is_file():
            raise UserError(f"{file}: missing from the prepared dataset; prepare it again")
        if verify and sha256_file(file) != digest:
            raise UserError(f"{file}: content does not match its hash in {MANIFEST}; prepare the dataset again")
        if name.endswith(".npy"):
            arrays[name] = np.load(file, mmap_mode="r", allow_pickle=False)
    return PreparedDataset(path, manifest, arrays, source=source)


def format_summary(result: PrepareResult, limit: int = 20) -> str:
    """The summary printed after ``prepare``: counts, every skip (up to ``limit`` lines), the manifest path.

    Consecutive clips or photos skipped for the same reason (the files of one skipped folder or
    identity) share a line naming the first and how many more, so one large folder does not
    push every other reason off the screen; the manifest lists each of them. Identities and
    meta-file rows always get a line each.
    """
    m = result.manifest
    s = m["summary"]
    lines = [
        ("reused" if result.reused else "prepared")
        + f" {s['identities']} identities: {s['clips']} clips -> {s['windows']} windows, {s['photos']} photos",
        "  windows train/val/test: " + "/".join(str(s["windows_per_split"][k]) for k in SPLIT_NAMES)
        + "; photos train/val/test: " + "/".join(str(s["photos_per_split"][k]) for k in SPLIT_NAMES),
    ]
    skipped = m["skipped"]
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(s["skipped"].items())) or "nothing"
    lines.append(f"skipped {len(skipped)} items ({counts})")
    runs = _runs(skipped)
    for item, n in runs[:limit]:
        more = f" and {n - 1} more" if n > 1 else ""
        lines.append(f"  {item['kind']:<8} {item['item']}{more}: {item['reason']}")
    if len(runs) > limit:
        lines.append(f"  ... {sum(n for _, n in runs[limit:])} more, all listed in {result.out}/{MANIFEST}")
    if s.get("meta_identities_not_on_disk"):
        lines.append(f"  ({s['meta_identities_not_on_disk']} identities of the meta file have no files on disk: listed in the manifest, not counted as skipped)")
    lines.append(f"manifest: {result.out}/{MANIFEST}")
    return "\n".join(lines)


def _runs(skipped: list[dict]) -> list[tuple[dict, int]]:
    """(first entry, length) of each run of consecutive clip or photo skips with the same kind and reason."""
    runs: list[tuple[dict, int]] = []
    for item in skipped:
        same = runs and (runs[-1][0]["kind"], runs[-1][0]["reason"]) == (item["kind"], item["reason"])
        if same and item["kind"] in ("clip", "photo"):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((item, 1))
    return runs
