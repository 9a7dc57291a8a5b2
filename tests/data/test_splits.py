"""Split protocols: how clips, voice windows and photos are divided into train, val and test.

A small pool stands in for a prepared dataset: identities with a few clips each, every clip cut
into a few windows, and a few photos per identity. Only the labels are looked at.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from v2f_bench.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    SPLIT_PROTOCOLS,
    UNSEEN_BY_VOICE,
    assign_splits,
    parse_fractions,
    partition,
    split_identities,
    split_within_groups,
    voice_split,
)
from v2f_bench.errors import UserError


def _pool(n_identities: int = 6, clips_each: int = 10, windows_each: int = 8, photos_each: int = 12):
    """(clip identities, window -> clip index, photo identities) for a balanced toy dataset."""
    identities = [f"id{k:05d}" for k in range(n_identities)]
    clip_identities = [identity for identity in identities for _ in range(clips_each)]
    window_clips = [clip for clip in range(len(clip_identities)) for _ in range(windows_each)]
    photo_identities = [identity for identity in identities for _ in range(photos_each)]
    return clip_identities, window_clips, photo_identities


POOL = _pool()


UNSEEN_FRACTIONS = (0.34, 0.33, 0.33)
"""With 6 identities: 2 train, 2 val, 2 test (unseen needs two identities in val and in test)."""


def _split(protocol: str, seed: int = 0, pool=POOL, fractions=None):
    clip_identities, window_clips, photo_identities = pool
    fractions = fractions or (UNSEEN_FRACTIONS if protocol == "unseen" else DEFAULT_FRACTIONS)
    return assign_splits(protocol, clip_identities, window_clips, photo_identities, fractions, seed)


# --- counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, fractions, counts",
    [
        pytest.param(0, DEFAULT_FRACTIONS, (0, 0, 0), id="n0-nothing"),
        pytest.param(1, DEFAULT_FRACTIONS, (1, 0, 0), id="n1-all-train"),
        pytest.param(2, DEFAULT_FRACTIONS, (2, 0, 0), id="n2-all-train"),
        pytest.param(3, DEFAULT_FRACTIONS, (1, 1, 1), id="n3-one-each"),
        pytest.param(10, DEFAULT_FRACTIONS, (8, 1, 1), id="n10"),
        pytest.param(30, DEFAULT_FRACTIONS, (24, 3, 3), id="n30"),
        pytest.param(3, (0.9, 0.0, 0.1), (2, 0, 1), id="n3-no-val-fraction-no-forced-val"),
        pytest.param(4, (0.1, 0.45, 0.45), (1, 1, 2), id="n4-train-keeps-one"),
        pytest.param(2, (0.1, 0.45, 0.45), (1, 0, 1), id="n2-train-keeps-one"),
        pytest.param(20, (0.5, 0.25, 0.25), (10, 5, 5), id="n20-halves-and-quarters"),
        pytest.param(5, (1.0, 0.0, 0.0), (5, 0, 0), id="n5-train-only"),
    ],
)
def test_partition_counts(n, fractions, counts):
    labels = partition(n, fractions, np.random.default_rng(0))
    assert len(labels) == n
    tally = Counter(labels)
    assert (tally["train"], tally["val"], tally["test"]) == counts
    assert set(labels) <= set(SPLIT_NAMES)


def test_partition_order_is_random_but_seeded():
    first = partition(30, DEFAULT_FRACTIONS, np.random.default_rng(5))
    assert first == partition(30, DEFAULT_FRACTIONS, np.random.default_rng(5))
    assert first != partition(30, DEFAULT_FRACTIONS, np.random.default_rng(6))
    assert first != ["train"] * 24 + ["val"] * 3 + ["test"] * 3


def test_split_within_groups_partitions_each_group_on_its_own():
    groups = ["b"] * 10 + ["a"] * 3 + ["c"] * 2
    labels = split_within_groups(groups, DEFAULT_FRACTIONS, np.random.default_rng(0))
    per_group = defaultdict(Counter)
    for group, label in zip(groups, labels):
        per_group[group][label] += 1
    assert per_group["b"] == Counter(train=8, val=1, test=1)
    assert per_group["a"] == Counter(train=1, val=1, test=1)
    assert per_group["c"] == Counter(train=2)


def test_split_identities_does_not_depend_on_input_order():
    identities = [f"id{k}" for k in range(10)]
    forward = split_identities(identities, DEFAULT_FRACTIONS, np.random.default_rng(3))
    backward = split_identities(identities[::-1], DEFAULT_FRACTIONS, np.random.default_rng(3))
    assert forward == backward
    assert Counter(forward.values()) == Counter(train=8, val=1, test=1)


# --- protocol "paper" -----------------------------------------------------------------------


def test_paper_puts_every_identity_in_every_split():
    clip_identities, _, photo_identities = POOL
    clips, _, photos, identity_split = _split("paper")
    assert identity_split == {}
    for items, labels in ((clip_identities, clips), (photo_identities, photos)):
        present = defaultdict(set)
        for identity, label in zip(items, labels):
            present[label].add(identity)
        assert set(present) == set(SPLIT_NAMES)
        for split in SPLIT_NAMES:
            assert present[split] == set(clip_identities)


def test_paper_keeps_all_windows_of_a_clip_together():
    _, window_clips, _ = POOL
    clips, windows, _, _ = _split("paper")
    assert len(windows) == len(window_clips)
    assert all(label == clips[clip] for clip, label in zip(window_clips, windows))
    assert "mixed" not in clips


def test_paper_counts_per_identity():
    clip_identities, _, photo_identities = POOL
    clips, _, photos, _ = _split("paper")
    for identity in set(clip_identities):
        assert Counter(label for i, label in zip(clip_identities, clips) if i == identity) == Counter(train=8, val=1, test=1)
        assert Counter(label for i, label in zip(photo_identities, photos) if i == identity) == Counter(train=10, val=1, test=1)


@pytest.mark.parametrize("protocol", [pytest.param(p, id=p) for p in SPLIT_PROTOCOLS if p not in ("wen", "sf2f")])
def test_same_seed_same_split_other_seed_other_split(protocol):
    assert _split(protocol, seed=11) == _split(protocol, seed=11)
    assert _split(protocol, seed=11) != _split(protocol, seed=12)


# --- protocol "paper-code" ------------------------------------------------------------------


def test_paper_code_splits_windows_across_clips():
    _, window_clips, _ = POOL
    clips, windows, _, _ = _split("paper-code")
    # windows are partitioned over the whole pool, not per clip or identity
    assert Counter(windows) == Counter(partition(len(window_clips), DEFAULT_FRACTIONS, np.random.default_rng(0)))
    labels_per_clip = defaultdict(set)
    for clip, label in zip(window_clips, windows):
        labels_per_clip[clip].add(label)
    straddling = [clip for clip, labels in labels_per_clip.items() if len(labels) > 1]
    assert straddling, "with 480 windows some clip must have windows on both sides"
    for clip, labels in labels_per_clip.items():
        assert clips[clip] == ("mixed" if len(labels) > 1 else next(iter(labels)))
    assert clips.count("mixed") == len(straddling)


def test_paper_code_splits_photos_like_paper():
    _, _, photos_paper, _ = _split("paper", seed=4)
    _, _, photos_code, identity_split = _split("paper-code", seed=4)
    assert identity_split == {}
    # the photo split is per identity in both; same counts per identity
    photo_identities = POOL[2]
    for identity in set(photo_identities):
        paper = Counter(label for i, label in zip(photo_identities, photos_paper) if i == identity)
        code = Counter(label for i, label in zip(photo_identities, photos_code) if i == identity)
        assert paper == code == Counter(train=10, val=1, test=1)


def test_paper_code_single_window_clips_are_never_mixed():
    pool = _pool(n_identities=4, clips_each=10, windows_each=1)
    clips, windows, _, _ = _split("paper-code", pool=pool)
    assert clips == windows


# --- protocol "unseen" ----------------------------------------------------------------------


def test_unseen_is_identity_disjoint():
    clip_identities, window_clips, photo_identities = POOL
    clips, windows, photos, identity_split = _split("unseen")
    assert sorted(identity_split) == sorted(set(clip_identities))
    assert Counter(identity_split.values()) == Counter(train=2, val=2, test=2)
    splits_of = defaultdict(set)
    for identity, label in [*zip(clip_identities, clips), *zip(photo_identities, photos)]:
        splits_of[identity].add(label)
    assert all(len(labels) == 1 for labels in splits_of.values())


def test_unseen_items_follow_their_identity():
    clip_identities, window_clips, photo_identities = POOL
    clips, windows, photos, identity_split = _split("unseen")
    assert clips == [identity_split[i] for i in clip_identities]
    assert photos == [identity_split[i] for i in photo_identities]
    assert windows == [identity_split[clip_identities[c]] for c in window_clips]


def test_unseen_covers_identities_with_only_clips_or_only_photos():
    clips, _, photos, identity_split = assign_splits(
        "unseen", ["a", "a", "b", "c"], [0, 1, 1, 2, 3], ["d", "e", "f", "a"], UNSEEN_FRACTIONS, seed=0
    )
    assert sorted(identity_split) == ["a", "b", "c", "d", "e", "f"]
    assert clips == [identity_split[i] for i in ("a", "a", "b", "c")]
    assert photos == [identity_split[i] for i in ("d", "e", "f", "a")]


def test_unseen_needs_two_identities_in_val_and_in_test():
    with pytest.raises(UserError, match="1 val and 1 test identities; train needs 1 and val and test at least 2 each"):
        _split("unseen", fractions=DEFAULT_FRACTIONS)


# --- arguments ------------------------------------------------------------------------------


def test_unknown_protocol_is_a_user_error():
    with pytest.raises(UserError, match=r"--protocol .closed.: choose one of paper, paper-code, unseen, wen, sf2f"):
        _split("closed")


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("0.8,0.1,0.1", (0.8, 0.1, 0.1), id="default"),
        pytest.param("0.6, 0.2, 0.2", (0.6, 0.2, 0.2), id="spaces-after-commas"),
        pytest.param("0.3333333,0.3333333,0.3333334", (0.3333333, 0.3333333, 0.3333334), id="rounded-thirds"),
    ],
)
def test_parse_fractions_accepts(text, expected):
    values = parse_fractions(text)
    assert isinstance(values, tuple)
    assert values == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("eighty,ten,ten", id="words"),
        pytest.param("0.8;0.1;0.1", id="semicolons"),
        pytest.param("0.8,0.2", id="two-values"),
        pytest.param("0.7,0.1,0.1,0.1", id="four-values"),
        pytest.param("0.5,0.5,0.5", id="sum-above-one"),
        pytest.param("0.8,0.1,0.05", id="sum-below-one"),
        pytest.param("1.2,-0.1,-0.1", id="negative"),
        pytest.param("0,0.5,0.5", id="no-train"),
        pytest.param("0.9,0,0.1", id="no-val-to-stop-early-or-calibrate-on"),
        pytest.param("0.7,0.3,0", id="no-test"),
        pytest.param("nan,0.5,0.5", id="nan-train"),
        pytest.param("0.5,nan,0.5", id="nan-val"),
        pytest.param("inf,0,0", id="infinite"),
    ],
)
def test_parse_fractions_rejects(text):
    with pytest.raises(UserError, match=r"--split-fractions .*(give three numbers|need three positive numbers)"):
        parse_fractions(text)


# --- the voice classifier's split ------------------------------------------------------------


def _voice_split(protocol: str, seed: int = 0, pool=POOL, fractions=None):
    clip_identities, window_clips, _ = pool
    fractions = fractions or (UNSEEN_FRACTIONS if protocol == "unseen" else DEFAULT_FRACTIONS)
    clips, windows, _, identity_split = _split(protocol, seed, pool, fractions)
    return voice_split(protocol, clip_identities, clips, window_clips, windows, fractions, seed), windows, identity_split


@pytest.mark.parametrize("protocol", ["paper", "paper-code"])
def test_voice_split_is_the_window_split_in_closed_set_protocols(protocol):
    voice, windows, _ = _voice_split(protocol)
    assert voice.tolist() == windows


def test_unseen_voice_classifier_trains_and_validates_on_train_identities_only():
    """Today's bug: the voice classifier early-stopped on windows of identities it never trained on."""
    clip_identities, window_clips, _ = POOL
    voice, windows, identity_split = _voice_split("unseen")
    identity_of_window = np.array([clip_identities[c] for c in window_clips])
    train_identities = {i for i, s in identity_split.items() if s == "train"}
    for name in ("train", "val", "test"):
        assert set(identity_of_window[voice == name]) == train_identities, name
    assert set(identity_of_window[voice == UNSEEN_BY_VOICE]) == {i for i, s in identity_split.items() if s != "train"}
    assert np.all((voice == UNSEEN_BY_VOICE) == (np.array(windows) != "train"))


def test_unseen_voice_split_keeps_every_clip_on_one_side_and_is_seeded():
    _, window_clips, _ = POOL
    voice, _, _ = _voice_split("unseen")
    per_clip = defaultdict(set)
    for clip, label in zip(window_clips, voice):
        per_clip[clip].add(str(label))
    assert all(len(labels) == 1 for labels in per_clip.values())
    assert voice.tolist() == _voice_split("unseen")[0].tolist()
    # 10 clips per train identity at 0.34 / 0.33 / 0.33: 3 val and 3 test clips each
    clip_labels = Counter(next(iter(labels)) for labels in per_clip.values())
    assert clip_labels["val"] == clip_labels["test"] == 2 * 3


# --- named peer rules: "wen" and "sf2f" ------------------------------------------------------

NAMES = ["Aaron_Paul", "bill_Murray", "Cate_Blanchett", "Emma_Stone", "Frank_Ocean", "Gal_Gadot", "Hugh_Laurie", "Ian_McKellen",
         "Jodie_Foster", "Zoe_Saldana"]
"""Ten VGGFace1 names: four start with A-E (one lower-case), six with F-Z."""


def _named_pool(n: int):
    identities = [f"id1{k:04d}" for k in range(n)]
    return [i for i in identities for _ in range(3)], [c for c in range(3 * n) for _ in range(2)], [i for i in identities for _ in range(4)]


def test_wen_holds_out_the_a_to_e_names_as_test_and_draws_val_from_the_rest():
    clip_identities, window_clips, photo_identities = _named_pool(10)
    ids = sorted(set(clip_identities))
    names = dict(zip(ids, NAMES))
    _, _, photos, identity_split = assign_splits("wen", clip_identities, window_clips, photo_identities, DEFAULT_FRACTIONS, 0, face_names=names)
    assert {i for i, s in identity_split.items() if s == "test"} == set(ids[:4])
    val = {i for i, s in identity_split.items() if s == "val"}
    assert len(val) == 2 and val <= set(ids[4:])  # round(10 * 0.1) = 1, raised to the two val needs
    assert photos == [identity_split[i] for i in photo_identities]
    again = assign_splits("wen", clip_identities, window_clips, photo_identities, DEFAULT_FRACTIONS, 0, face_names=names)[3]
    assert again == identity_split


def test_wen_refuses_vggface2_ids_in_one_line():
    clip_identities, window_clips, photo_identities = _named_pool(10)
    names = {i: f"n{k:06d}" for k, i in enumerate(sorted(set(clip_identities)))}
    with pytest.raises(UserError, match=r"--protocol wen: .*'n000000' is no VGGFace1 name; prepare VoxCeleb1 with VGGFace1"):
        assign_splits("wen", clip_identities, window_clips, photo_identities, DEFAULT_FRACTIONS, 0, face_names=names)


def test_wen_with_too_few_a_to_e_names_says_what_to_do():
    clip_identities, window_clips, photo_identities = _named_pool(6)
    names = dict(zip(sorted(set(clip_identities)), ["Aaron_Paul", "Frank_Ocean", "Gal_Gadot", "Hugh_Laurie", "Ian_McKellen", "Zoe_Saldana"]))
    with pytest.raises(UserError, match=r"--protocol wen: 6 identities give 3 train, 2 val and 1 test .*A-E"):
        assign_splits("wen", clip_identities, window_clips, photo_identities, DEFAULT_FRACTIONS, 0, face_names=names)


def test_sf2f_splits_by_meta_row_modulo_ten():
    clip_identities, window_clips, photo_identities = _named_pool(25)
    ids = sorted(set(clip_identities))
    rows = {i: k + 3 for k, i in enumerate(ids)}  # rows 3..27: the meta file has other rows before these
    clips, windows, photos, identity_split = assign_splits("sf2f", clip_identities, window_clips, photo_identities, DEFAULT_FRACTIONS, 0,
                                                           meta_rows=rows)
    assert {rows[i] for i, s in identity_split.items() if s == "test"} == {8, 18}
    assert {rows[i] for i, s in identity_split.items() if s == "val"} == {9, 19}
    assert windows == [identity_split[clip_identities[c]] for c in window_clips]
    voice = voice_split("sf2f", clip_identities, clips, window_clips, windows, DEFAULT_FRACTIONS, 0)
    assert set(voice[np.array(windows) != "train"]) == {UNSEEN_BY_VOICE}


@pytest.mark.parametrize(
    "rows, message",
    [
        pytest.param(range(12), r"--protocol sf2f: 12 identities give 10 train, 1 val and 1 test .*20 rows or more", id="too-few-rows"),
        pytest.param([None] * 12, r"--protocol sf2f: .* has no meta row; prepare from a VoxCeleb tree with its meta file", id="no-meta-rows"),
    ],
)
def test_sf2f_refuses_data_it_cannot_split_in_one_line(rows, message):
    clip_identities, window_clips, photo_identities = _named_pool(12)
    meta_rows = dict(zip(sorted(set(clip_identities)), rows))
    with pytest.raises(UserError, match=message) as error:
        assign_splits("sf2f", clip_identities, window_clips, photo_identities, DEFAULT_FRACTIONS, 0, meta_rows=meta_rows)
    assert "\n" not in str(error.value)
