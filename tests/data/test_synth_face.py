"""Behaviour of the procedural face renderer that stands in for VGGFace2's photos."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

from v2f_bench.data.synth_face import FaceProfile, render_photo, sample_face_profile


def _photos(seed: int, n: int, gender: str = "f"):
    rng = np.random.default_rng(seed)
    profile = sample_face_profile(rng, gender)
    return profile, [render_photo(profile, rng) for _ in range(n)]


def _aligned(photo, landmarks, size: int = 32) -> np.ndarray:
    """Warp a photo so its eyes land on fixed points, as face-recognition pipelines do."""
    (lx, ly), (rx, ry) = landmarks[:2]
    src = complex(rx - lx, ry - ly)
    dst = complex(0.34 * size, 0.0)
    turn = src / dst
    offset = complex(lx, ly) - turn * complex(0.33 * size, 0.38 * size)
    tform = SimilarityTransform(scale=abs(turn), rotation=np.angle(turn), translation=(offset.real, offset.imag))
    return warp(np.asarray(photo, float) / 255, tform, output_shape=(size, size))


@pytest.fixture(scope="module")
def sample():
    return _photos(seed=7, n=40, gender="m")[1]


def test_same_generator_state_gives_identical_photos():
    profile_a, shots_a = _photos(seed=3, n=3)
    profile_b, shots_b = _photos(seed=3, n=3)
    assert profile_a == profile_b
    for (img_a, box_a, marks_a), (img_b, box_b, marks_b) in zip(shots_a, shots_b):
        assert np.array_equal(np.asarray(img_a), np.asarray(img_b))
        assert box_a == box_b and marks_a == marks_b


def test_profiles_are_frozen_and_gender_is_checked():
    profile = sample_face_profile(np.random.default_rng(0), "f")
    assert isinstance(profile, FaceProfile) and profile.gender == "f"
    with pytest.raises(AttributeError):
        profile.eye_size = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        sample_face_profile(np.random.default_rng(0), "x")


def test_photos_are_rgb_with_varied_sizes(sample):
    sizes = {img.size for img, _, _ in sample}
    assert all(img.mode == "RGB" for img, _, _ in sample)
    assert all(160 <= w <= 280 and 160 <= h <= 280 for w, h in sizes)
    assert len(sizes) > 10
    assert any(w != h for w, h in sizes)


def test_landmarks_lie_in_the_photo_and_in_the_loose_box(sample):
    for img, (x, y, w, h), marks in sample:
        assert len(marks) == 5
        assert 0 <= x and 0 <= y and x + w <= img.width and y + h <= img.height
        for mx, my in marks:
            assert 0 <= mx < img.width and 0 <= my < img.height
            assert x <= mx <= x + w and y <= my <= y + h


def test_landmarks_are_ordered_as_seen_in_the_picture(sample):
    """Left eye left of right eye, eyes above the nose, the nose above the mouth corners."""
    for _, _, (left_eye, right_eye, nose, left_mouth, right_mouth) in sample:
        assert left_eye[0] < right_eye[0]
        assert left_mouth[0] < right_mouth[0]
        eye_line = np.subtract(right_eye, left_eye)
        down = np.array([-eye_line[1], eye_line[0]]) / np.linalg.norm(eye_line)
        eyes_mid = np.add(left_eye, right_eye) / 2
        mouth_mid = np.add(left_mouth, right_mouth) / 2
        assert 0 < np.dot(np.subtract(nose, eyes_mid), down) < np.dot(mouth_mid - eyes_mid, down)


def test_faces_are_often_off_centre_and_of_varied_size(sample):
    offsets, widths = [], []
    for img, (x, y, w, h), _ in sample:
        centre = np.array([x + w / 2, y + h / 2])
        offsets.append(np.abs(centre / img.size - 0.5).max())
        widths.append(w / img.width)
    assert np.mean(np.array(offsets) > 0.1) > 0.3
    assert max(widths) - min(widths) > 0.15


def test_identity_shows_in_aligned_crops():
    """Two photo sets of one person look more alike than photo sets of two people."""
    _, first = _photos(seed=11, n=24)
    _, second = _photos(seed=12, n=24)
    mean = lambda shots: np.mean([_aligned(img, marks) for img, _, marks in shots], axis=0)
    same = np.abs(mean(first[:12]) - mean(first[12:])).mean()
    different = np.abs(mean(first[:12]) - mean(second[:12])).mean()
    assert different > 1.2 * same


def test_photos_of_one_person_vary(sample):
    crops = np.array([_aligned(img, marks) for img, _, marks in sample[:10]])
    assert crops.std(axis=0).mean() > 0.05
