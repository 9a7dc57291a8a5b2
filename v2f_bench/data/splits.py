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

The voice classifier is a closed-set identity classifier, so it cannot be validated on identities
it never trained on. Its own split (``voice_split``) is the window split under ``paper`` and
``paper-code``; under ``unseen`` it trains on the train identities only, and the clips of each
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

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from v2f_bench.errors import UserError

SPLIT_PROTOCOLS = ("paper", "paper-code", "unseen")
SPLIT_NAMES = ("train", "val", "test")
UNSEEN_BY_VOICE = "unseen"
"""``voice_split`` label of a window whose identity the voice classifier never trains on (``unseen`` protocol)."""
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
) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """Split labels for clips, windows and photos, and the identity split (``unseen`` only, else empty).

    ``window_clips[w]`` is the index of the clip window ``w`` comes from. A window's label is its
    clip's label except under ``paper-code``, where windows are split on their own and a clip's
    label is ``mixed`` when its windows disagree.
    """
    if protocol not in SPLIT_PROTOCOLS:
        raise UserError(f"--protocol {protocol!r}: choose one of {', '.join(SPLIT_PROTOCOLS)}")
    rng = np.random.default_rng(seed)
    identity_split: dict[str, str] = {}
    if protocol == "unseen":
        identity_split = split_identities(sorted(set(clip_identities) | set(photo_identities)), fractions, rng)
        _require_two_per_split(identity_split)
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
    ``paper`` and ``paper-code`` the window split is returned as it is. Under ``unseen`` the clips
    of every train identity are partitioned by ``split_within_groups`` with ``fractions`` (so an
    identity with three or more clips has at least one val and one test clip), and every window
    takes its clip's label; windows of val and test identities get ``UNSEEN_BY_VOICE``.
    """
    if protocol != "unseen":
        return np.asarray(window_split)
    train_clips = [c for c, label in enumerate(clip_split) if label == "train"]
    rng = np.random.default_rng([seed, VOICE_SPLIT_SEED_OFFSET])
    labels = np.full(len(clip_split), UNSEEN_BY_VOICE, dtype="<U6")
    labels[train_clips] = split_within_groups([clip_identities[c] for c in train_clips], fractions, rng)
    return labels[np.asarray(window_clips, dtype=int)]


def _require_two_per_split(identity_split: dict[str, str]) -> None:
    """Identity-disjoint evaluation compares identities inside val and test, so each needs two."""
    counts = {name: sum(1 for s in identity_split.values() if s == name) for name in ("val", "test")}
    if min(counts.values()) < 2:
        raise UserError(
            f"--protocol unseen: {len(identity_split)} identities give {counts['val']} val and {counts['test']} test identities; "
            "each needs at least 2 (raise the val and test --split-fractions, e.g. 0.6,0.2,0.2, or use more identities)"
        )


def _clip_labels_from_windows(n_clips: int, window_clips: Sequence[int], windows: Sequence[str]) -> list[str]:
    seen: list[set[str]] = [set() for _ in range(n_clips)]
    for clip, label in zip(window_clips, windows):
        seen[clip].add(label)
    return [next(iter(s)) if len(s) == 1 else "mixed" for s in seen]
