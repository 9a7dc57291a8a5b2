"""Named split protocols: which clips, windows and photos are train, val and test.

- ``paper``: closed set, as the paper evaluates: every identity appears in train, val and test.
  Clips are split per identity, so all windows of one clip stay on one side (no leakage through
  overlapping windows); photos are split per identity the same way.
- ``paper-code``: as ``paper`` for photos, but voice *windows* are split at random over the whole
  pool, ignoring the clip they come from, as the authors' notebooks did (windows of one clip, which
  overlap by half, land on both sides). Offered only to reproduce their numbers.
- ``unseen``: identity-disjoint, as Wen et al. 2019 and SF2F evaluate: identities are split, and
  all clips and photos of an identity follow it. Generators train on the train identities, are
  selected on the val identities and measured on the test identities; the judge trains on the
  train identities' photos, calibrates tau on the val identities' photos and is verified on the
  test identities' photos.

- ``wen``: identity-disjoint by Wen et al. 2019's rule: identities whose VGGFace1 name starts with A-E
  (case-insensitive) are the test identities, as Wen et al. held them out; they had no validation
  set, so the validation identities are drawn (seeded) from the F-Z identities, ``round(n * val
  fraction)`` of all n identities and at least two, and the other F-Z identities train. Needs face
  ids that are VGGFace1 names (VoxCeleb1 + VGGFace1 data), not VGGFace2 ids.
- ``sf2f``: identity-disjoint by SF2F's rule (Bai et al. 2022) on the VoxCeleb meta file: the
  identity on data row i (0-based, the header not counted, as pandas numbers ``vox1_meta.csv``) is
  test when i % 10 == 8, validation when i % 10 == 9, train otherwise. The fractions are not used.

Under every identity-disjoint protocol (``IDENTITY_DISJOINT``) all clips and photos of an identity
follow it, and val and test need at least two identities each.

The voice classifier is a closed-set identity classifier, so it cannot be validated on identities
it never trained on. Its own split (``voice_split``) is the window split under ``paper`` and
``paper-code``; under ``unseen``, ``wen`` and ``sf2f`` it trains on the train identities only, and the clips of each
train identity are split again into train, val and test clips with the same fractions (by clip, so
no window of a validation clip is trained on; drawn from a generator seeded by ``[seed, 1]``, so the
identity split and this one are independent and both reproducible). Its early stopping,
``val_loss`` and ``val_accuracy`` use those validation clips and its ``test_accuracy`` those test
clips; the windows of val and test identities are ``unseen`` to it (never trained or scored on).

Counts per group are ``round(n * fraction)`` for val and test, the rest for train; when a group has
at least three items, val and test each get at least one (so every identity can be evaluated), and
train always keeps at least one. All draws come from one ``numpy`` generator seeded by the caller.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from v2f_bench.errors import UserError

SPLIT_PROTOCOLS = ("paper", "paper-code", "unseen", "wen", "sf2f")
IDENTITY_DISJOINT = ("unseen", "wen", "sf2f")
"""The protocols that split identities rather than the items of each identity."""
WEN_TEST_INITIALS = "ABCDE"
"""Wen et al. 2019 hold out the identities whose VGGFace1 name starts with one of these letters."""
VGGFACE2_ID = re.compile(r"n\d{6}")
SPLIT_NAMES = ("train", "val", "test")
UNSEEN_BY_VOICE = "unseen"
"""``voice_split`` label of a window whose identity the voice classifier never trains on (identity-disjoint protocols)."""
VOICE_SPLIT_SEED_OFFSET = 1
"""``voice_split`` draws from ``default_rng([seed, VOICE_SPLIT_SEED_OFFSET])``, apart from the identity split's ``default_rng(seed)``."""
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> (0.8, 0.1, 0.1): three positive numbers summing to 1.

    Every split must be non-empty: validation photos calibrate tau and validation windows stop
    the voice classifier early; test holds the numbers that are reported.
    """
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--split-fractions {text!r}: give three numbers for train,val,test such as 0.8,0.1,0.1") from None
    # NaN compares false with everything, so it must be rejected explicitly
    if len(values) != 3 or not np.all(np.isfinite(values)) or min(values) <= 0 or abs(sum(values) - 1.0) > 1e-6:
        raise UserError(f"--split-fractions {text!r}: need three positive numbers train,val,test summing to 1")
    return values  # type: ignore[return-value]


def partition(n: int, fractions: Sequence[float], rng: np.random.Generator) -> list[str]:
    """Split labels for ``n`` items in random order, with the counts described in the module docstring."""
    n_val = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    if n >= 3:
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    while n - n_val - n_test < 1 and (n_val or n_test):
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    labels = ["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test
    return [labels[i] for i in rng.permutation(n)]


def split_within_groups(groups: Sequence[str], fractions: Sequence[float], rng: np.random.Generator) -> list[str]:
    """Partition the items of every group separately; ``groups[i]`` is item i's group (an identity)."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    labels = [""] * len(groups)
    for group in sorted(members):
        for index, label in zip(members[group], partition(len(members[group]), fractions, rng)):
            labels[index] = label
    return labels


def split_identities(identities: Sequence[str], fractions: Sequence[float], rng: np.random.Generator) -> dict[str, str]:
    """Identity -> split for the ``unseen`` protocol."""
    ordered = sorted(identities)
    return dict(zip(ordered, partition(len(ordered), fractions, rng)))


def assign_splits(
    protocol: str,
    clip_identities: Sequence[str],
    window_clips: Sequence[int],
    photo_identities: Sequence[str],
    fractions: Sequence[float],
    seed: int,
    face_names: Mapping[str, str] | None = None,
    meta_rows: Mapping[str, int | None] | None = None,
) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """Split labels for clips, windows and photos, and the identity split (identity-disjoint protocols only, else empty).

    ``face_names`` (voice id -> face id) is what ``wen`` reads, ``meta_rows`` (voice id -> data row of
    the meta file) what ``sf2f`` reads.

    ``window_clips[w]`` is the index of the clip window ``w`` comes from. A window's label is its
    clip's label except under ``paper-code``, where windows are split on their own and a clip's
    label is ``mixed`` when its windows disagree.
    """
    if protocol not in SPLIT_PROTOCOLS:
        raise UserError(f"--protocol {protocol!r}: choose one of {', '.join(SPLIT_PROTOCOLS)}")
    rng = np.random.default_rng(seed)
    identity_split: dict[str, str] = {}
    if protocol in IDENTITY_DISJOINT:
        everyone = sorted(set(clip_identities) | set(photo_identities))
        identity_split = identity_split_by_rule(protocol, everyone, fractions, rng, face_names, meta_rows)
        clips = [identity_split[i] for i in clip_identities]
        photos = [identity_split[i] for i in photo_identities]
        windows = [clips[c] for c in window_clips]
        return clips, windows, photos, identity_split
    clips = split_within_groups(clip_identities, fractions, rng)
    photos = split_within_groups(photo_identities, fractions, rng)
    if protocol == "paper":
        windows = [clips[c] for c in window_clips]
        return clips, windows, photos, identity_split
    windows = partition(len(window_clips), fractions, rng)
    clips = _clip_labels_from_windows(len(clip_identities), window_clips, windows)
    return clips, windows, photos, identity_split


def voice_split(
    protocol: str, clip_identities: Sequence[str], clip_split: Sequence[str], window_clips: Sequence[int],
    window_split: Sequence[str], fractions: Sequence[float], seed: int,
) -> np.ndarray:
    """The voice classifier's label of every window (see the module docstring).

    ``clip_split`` and ``window_split`` are the protocol's labels (``assign_splits``); under
    ``paper`` and ``paper-code`` the window split is returned as it is. Under ``IDENTITY_DISJOINT`` protocols the clips
    of every train identity are partitioned by ``split_within_groups`` with ``fractions`` (so an
    identity with three or more clips has at least one val and one test clip), and every window
    takes its clip's label; windows of val and test identities get ``UNSEEN_BY_VOICE``.
    """
    if protocol not in IDENTITY_DISJOINT:
        return np.asarray(window_split)
    train_clips = [c for c, label in enumerate(clip_split) if label == "train"]
    rng = np.random.default_rng([seed, VOICE_SPLIT_SEED_OFFSET])
    labels = np.full(len(clip_split), UNSEEN_BY_VOICE, dtype="<U6")
    labels[train_clips] = split_within_groups([clip_identities[c] for c in train_clips], fractions, rng)
    return labels[np.asarray(window_clips, dtype=int)]


def identity_split_by_rule(
    protocol: str, identities: Sequence[str], fractions: Sequence[float], rng: np.random.Generator,
    face_names: Mapping[str, str] | None = None, meta_rows: Mapping[str, int | None] | None = None,
) -> dict[str, str]:
    """Identity -> split under an identity-disjoint protocol; a one-line UserError when its rule cannot apply.

    ``prepare`` calls it on the selected identities before computing any feature, so data a rule
    cannot split is refused at once (``check_identity_rule``), and again on the identities that remain.
    """
    if protocol == "unseen":
        identity_split = split_identities(identities, fractions, rng)
    elif protocol == "wen":
        identity_split = wen_identities(identities, face_names or {}, fractions, rng)
    else:
        identity_split = sf2f_identities(identities, meta_rows or {})
    _require_two_per_split(identity_split, protocol)
    return identity_split


def check_identity_rule(protocol: str, identities: Sequence, fractions: Sequence[float], seed: int) -> None:
    """Refuse, before any work, a protocol whose rule cannot split these ``records.Identity`` (no-op for closed-set protocols)."""
    if protocol in IDENTITY_DISJOINT:
        identity_split_by_rule(protocol, sorted(i.voice_id for i in identities), fractions, np.random.default_rng(seed),
                               {i.voice_id: i.face_id for i in identities}, {i.voice_id: i.meta_row for i in identities})


def wen_identities(identities: Sequence[str], face_names: Mapping[str, str], fractions: Sequence[float],
                   rng: np.random.Generator) -> dict[str, str]:
    """Identity -> split by Wen et al.'s rule (module docstring): VGGFace1 names A-E test, a seeded val draw from the rest."""
    names = {identity: face_names.get(identity, "") for identity in identities}
    vggface2 = sorted(name for name in names.values() if not name or VGGFACE2_ID.fullmatch(name))
    if vggface2:
        raise UserError(f"--protocol wen: holds out identities by VGGFace1 name (A-E), but face id {vggface2[0]!r} is no VGGFace1 name; "
                        "prepare VoxCeleb1 with VGGFace1, or use --protocol sf2f or unseen")
    test = sorted(i for i in identities if names[i][:1].upper() in WEN_TEST_INITIALS)
    rest = sorted(i for i in identities if i not in set(test))
    n_val = min(max(int(round(len(identities) * fractions[1])), 2), max(len(rest) - 1, 0))
    val = {rest[k] for k in rng.permutation(len(rest))[:n_val]}
    return {i: "test" if i in set(test) else "val" if i in val else "train" for i in identities}


def sf2f_identities(identities: Sequence[str], meta_rows: Mapping[str, int | None]) -> dict[str, str]:
    """Identity -> split by SF2F's rule: meta data row i is test when i % 10 == 8, val when i % 10 == 9, else train."""
    missing = sorted(i for i in identities if meta_rows.get(i) is None)
    if missing:
        raise UserError(f"--protocol sf2f: splits by the row of each identity in the VoxCeleb meta file, but {missing[0]} has no meta row; "
                        "prepare from a VoxCeleb tree with its meta file, or use --protocol unseen")
    return {i: {8: "test", 9: "val"}.get(int(meta_rows[i]) % 10, "train") for i in identities}


_RULE_FIX = {
    "unseen": "raise the val and test --split-fractions, e.g. 0.6,0.2,0.2, or use more identities",
    "wen": "it needs at least 2 identities whose VGGFace1 name starts with A-E and 3 others; use more identities or --protocol unseen",
    "sf2f": "it needs identities on at least 2 meta rows i with i % 10 == 8 and 2 with i % 10 == 9 (20 rows or more); "
            "use more identities or --protocol unseen",
}


def _require_two_per_split(identity_split: dict[str, str], protocol: str = "unseen") -> None:
    """Identity-disjoint evaluation compares identities inside val and test, so each needs two."""
    counts = {name: sum(1 for s in identity_split.values() if s == name) for name in ("train", "val", "test")}
    if min(counts.values()) < 1 or min(counts["val"], counts["test"]) < 2:
        raise UserError(
            f"--protocol {protocol}: {len(identity_split)} identities give {counts['train']} train, {counts['val']} val and "
            f"{counts['test']} test identities; train needs 1 and val and test at least 2 each ({_RULE_FIX[protocol]})"
        )


def _clip_labels_from_windows(n_clips: int, window_clips: Sequence[int], windows: Sequence[str]) -> list[str]:
    seen: list[set[str]] = [set() for _ in range(n_clips)]
    for clip, label in zip(window_clips, windows):
        seen[clip].add(label)
    return [next(iter(s)) if len(s) == 1 else "mixed" for s in seen]
