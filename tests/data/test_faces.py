"""Face crops: alignment by the eye landmarks, box crops, min-max normalisation, and rejected photos.

Photos are drawn with numpy/PIL in memory: a grey textured background with a red dot for the
left eye (left as seen in the picture) and a blue dot for the right eye. Grey stays grey under
resampling and under the per-image min-max stretch, so any "redness" or "blueness" left in a
crop comes from the dots and their centroids say where the eyes landed. Coordinates are
continuous pixel coordinates (pixel i covers [i, i + 1)), the convention PIL's transforms use.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from v2f_bench.data.faces import (
    LEFT_EYE_TEMPLATE,
    MIN_PHOTO_SIDE,
    RIGHT_EYE_TEMPLATE,
    FaceError,
    FaceParams,
    decode_image,
    face_crops,
    min_max_uint8,
)

PHOTO_SIDE = 240
EYE_RADIUS = 3.5
ALIGN_TOLERANCE_PX = 1.5


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _grey_texture(side: int = PHOTO_SIDE, seed: int = 0) -> np.ndarray:
    """Smooth random grey blobs (values 60..180), identical in R, G and B."""
    coarse = np.random.default_rng(seed).integers(60, 180, (side // 4, side // 4)).astype(np.uint8)
    grey = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float64)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _draw_disc(pixels: np.ndarray, centre: tuple[float, float], radius: float, colour) -> None:
    rows, cols = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]] + 0.5
    pixels[(cols - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2] = colour


def _eye_photo(angle_deg: float, half_distance: float = 32.0, centre=(120.0, 110.0)):
    """A photo with eyes on a line tilted by ``angle_deg``; returns (png bytes, five landmarks)."""
    angle = math.radians(angle_deg)
    dx, dy = half_distance * math.cos(angle), half_distance * math.sin(angle)
    left = (centre[0] - dx, centre[1] - dy)
    right = (centre[0] + dx, centre[1] + dy)
    pixels = _grey_texture()
    _draw_disc(pixels, left, EYE_RADIUS, (255, 0, 0))
    _draw_disc(pixels, right, EYE_RADIUS, (0, 0, 255))
    nose = (centre[0], centre[1] + 25.0)
    landmarks = (left, right, nose, (centre[0] - 18.0, centre[1] + 45.0), (centre[0] + 18.0, centre[1] + 45.0))
    return _png(pixels), landmarks


def _colour_centroid(crop: np.ndarray, channel: int) -> tuple[float, float]:
    """Centroid (x, y) of how much ``channel`` exceeds the other two, in continuous pixel coordinates."""
    values = crop.astype(np.float64)
    others = [c for c in range(3) if c != channel]
    weight = np.clip(values[:, :, channel] - values[:, :, others].max(axis=2), 0.0, None)
    assert weight.sum() > 0, "the eye dot is not in the crop"
    rows, cols = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]] + 0.5
    return float((weight * cols).sum() / weight.sum()), float((weight * rows).sum() / weight.sum())


@pytest.fixture(scope="module")
def tilted_photo():
    return _eye_photo(angle_deg=25.0)


def test_default_sizes_are_generator_then_judge():
    assert FaceParams().sizes == (64, 96)
    assert FaceParams(generator_size=32, judge_size=96).sizes == (32, 96)


# --- alignment by landmarks -----------------------------------------------------------------


@pytest.mark.parametrize(
    "angle_deg, half_distance",
    [
        pytest.param(25.0, 32.0, id="tilted-25deg"),
        pytest.param(-40.0, 20.0, id="tilted-minus-40deg-small-face"),
        pytest.param(0.0, 45.0, id="level-large-face"),
    ],
)
def test_eyes_land_on_the_template_in_every_size(angle_deg, half_distance):
    data, landmarks = _eye_photo(angle_deg, half_distance)
    crops, source = face_crops(data, None, landmarks, FaceParams())
    assert source == "landmarks"
    assert [crop.shape for crop in crops] == [(64, 64, 3), (96, 96, 3)]
    for crop in crops:
        size = crop.shape[0]
        left = _colour_centroid(crop, channel=0)
        right = _colour_centroid(crop, channel=2)
        assert math.dist(left, (LEFT_EYE_TEMPLATE[0] * size, LEFT_EYE_TEMPLATE[1] * size)) < ALIGN_TOLERANCE_PX
        assert math.dist(right, (RIGHT_EYE_TEMPLATE[0] * size, RIGHT_EYE_TEMPLATE[1] * size)) < ALIGN_TOLERANCE_PX


def test_eye_order_in_the_landmarks_does_not_matter(tilted_photo):
    data, landmarks = tilted_photo
    swapped = (landmarks[1], landmarks[0], *landmarks[2:])
    crops, _ = face_crops(data, None, landmarks, FaceParams())
    crops_swapped, _ = face_crops(data, None, swapped, FaceParams())
    for crop, crop_swapped in zip(crops, crops_swapped):
        np.testing.assert_array_equal(crop, crop_swapped)


def test_landmarks_win_over_the_box(tilted_photo):
    data, landmarks = tilted_photo
    with_box, source = face_crops(data, (60.0, 50.0, 120.0, 140.0), landmarks, FaceParams())
    without_box, _ = face_crops(data, None, landmarks, FaceParams())
    assert source == "landmarks"
    for a, b in zip(with_box, without_box):
        np.testing.assert_array_equal(a, b)


# --- box crops ------------------------------------------------------------------------------

QUADRANT_COLOURS = np.array([[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (255, 255, 0)]])


@pytest.fixture(scope="module")
def quadrant_photo() -> tuple[bytes, tuple[float, float, float, float]]:
    """A black photo with a 80x80 square of four coloured quadrants at (40, 40)-(120, 120).

    The box is 60 wide and 80 high, centred on the square: cropping the square of side max(w, h)
    around its centre gives exactly the coloured square; cropping the box itself would cut off
    10 px of each side quadrant and stretch the rest.
    """
    pixels = np.zeros((200, 240, 3), dtype=np.uint8)
    pixels[40:80, 40:80] = QUADRANT_COLOURS[0, 0]
    pixels[40:80, 80:120] = QUADRANT_COLOURS[0, 1]
    pixels[80:120, 40:80] = QUADRANT_COLOURS[1, 0]
    pixels[80:120, 80:120] = QUADRANT_COLOURS[1, 1]
    return _png(pixels), (50.0, 40.0, 60.0, 80.0)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(FaceParams(), id="no-landmarks"),
        pytest.param(FaceParams(align=False), id="align-off"),
    ],
)
def test_box_crop_is_the_square_around_the_box_centre(quadrant_photo, params):
    data, box = quadrant_photo
    crops, source = face_crops(data, box, None, params)
    assert source == "box"
    for crop in crops:
        size = crop.shape[0]
        margin = max(2, size // 16)  # keep clear of the bicubic ringing at the colour edges
        half = size // 2
        quadrants = {
            (0, 0): crop[margin : half - margin, margin : half - margin],
            (0, 1): crop[margin : half - margin, half + margin : size - margin],
            (1, 0): crop[half + margin : size - margin, margin : half - margin],
            (1, 1): crop[half + margin : size - margin, half + margin : size - margin],
        }
        for (row, col), patch in quadrants.items():
            assert np.abs(patch.astype(int) - QUADRANT_COLOURS[row, col]).max() <= 2, (size, row, col)
        # no black background shows anywhere along the crop's edges (the square fills it)
        # (only the outermost pixels blend a little with the black beyond the square)
        assert crop[[0, -1], :].max(axis=-1).min() >= 150
        assert crop[:, [0, -1]].max(axis=-1).min() >= 150


def test_align_off_ignores_landmarks(quadrant_photo):
    data, box = quadrant_photo
    bogus_landmarks = ((10.0, 10.0), (30.0, 20.0), (20.0, 30.0), (12.0, 40.0), (28.0, 40.0))
    aligned_off, source = face_crops(data, box, bogus_landmarks, FaceParams(align=False))
    plain, _ = face_crops(data, box, None, FaceParams())
    assert source == "landmarks"  # the source says what the dataset gave, align=False only changes the crop
    for a, b in zip(aligned_off, plain):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "box, inside",
    [
        pytest.param((-50.0, 25.0, 100.0, 50.0), lambda x, y: x > 0.5, id="past-the-left-edge"),
        pytest.param((60.0, 60.0, 80.0, 80.0), lambda x, y: (x < 0.5) & (y < 0.5), id="past-the-bottom-right-corner"),
    ],
)
def test_box_reaching_past_the_photo_is_padded_with_black(box, inside):
    """Loose boxes near the border (and MTCNN's) reach outside the photo; the outside crops as black."""
    data = _png(np.full((100, 100, 3), 200))
    crops, source = face_crops(data, box, None, FaceParams())
    assert source == "box"
    for crop in crops:
        size = crop.shape[0]
        centres = (np.arange(size) + 0.5) / size
        x, y = np.meshgrid(centres, centres)
        far = 3.0 / size  # keep 3 px clear of the photo's border, where bicubic blends the two
        photo = inside(x, y) & inside(x - far, y - far) & inside(x + far, y + far)
        outside = ~inside(x, y) & ~inside(x - far, y - far) & ~inside(x + far, y + far)
        assert photo.any() and outside.any()
        assert crop[outside].max() == 0
        assert crop[photo].min() >= 200


# --- min-max normalisation ------------------------------------------------------------------


def test_crops_are_min_max_stretched_uint8(tilted_photo, quadrant_photo):
    for data, box, landmarks in ((tilted_photo[0], None, tilted_photo[1]), (quadrant_photo[0], quadrant_photo[1], None)):
        crops, _ = face_crops(data, box, landmarks, FaceParams())
        for crop in crops:
            assert crop.dtype == np.uint8
            assert crop.min() == 0
            assert crop.max() == 255


def test_low_contrast_face_is_stretched_to_full_range():
    """Two greys 10 levels apart end up about 200 levels apart (bicubic overshoot at the step takes the extremes)."""
    pixels = np.full((100, 100, 3), 100, dtype=np.uint8)
    pixels[:, 50:] = 110
    crops, _ = face_crops(_png(pixels), (20.0, 20.0, 60.0, 60.0), None, FaceParams())
    for crop in crops:
        quarter = crop.shape[1] // 4
        dark, bright = np.unique(crop[:, :quarter]), np.unique(crop[:, -quarter:])
        assert dark.size == 1 and bright.size == 1
        assert int(bright[0]) - int(dark[0]) > 180
        assert crop.min() == 0 and crop.max() == 255


@pytest.mark.parametrize(
    "pixels, expected",
    [
        pytest.param([10.0, 20.0, 30.0], [0, 128, 255], id="midpoint-rounds"),
        pytest.param([-1.0, 0.0, 3.0], [0, 64, 255], id="negative-values"),
        pytest.param([[[0.0, 0.5, 1.0], [1.0, 1.0, 0.25]]], [[[0, 128, 255], [255, 255, 64]]], id="one-range-over-all-channels"),
    ],
)
def test_min_max_uint8_values(pixels, expected):
    out = min_max_uint8(np.asarray(pixels, dtype=np.float32))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.asarray(expected, dtype=np.uint8))


@pytest.mark.parametrize(
    "colour",
    [
        pytest.param((128, 128, 128), id="grey"),
        pytest.param((90, 140, 60), id="coloured"),
    ],
)
def test_flat_colour_crop_is_rejected(colour):
    flat = np.full((100, 100, 3), colour, dtype=np.uint8)
    with pytest.raises(FaceError, match="the face crop is a single flat colour"):
        face_crops(_png(flat), (20.0, 20.0, 50.0, 50.0), None, FaceParams())
    with pytest.raises(FaceError, match="single flat colour"):
        min_max_uint8(np.full((4, 4, 3), colour, dtype=np.float32))


def test_one_differing_pixel_is_enough_to_normalise():
    pixels = np.full((4, 4, 3), (90.0, 140.0, 60.0), dtype=np.float32)
    pixels[2, 1, 2] = 61.0
    out = min_max_uint8(pixels)
    assert out.min() == 0 and out.max() == 255


# --- rejected photos ------------------------------------------------------------------------

_GOOD_BOX = (60.0, 50.0, 100.0, 120.0)


def _truncated_jpeg() -> bytes:
    data = _jpeg(_grey_texture(seed=3))
    return data[: len(data) // 2]


BAD_PHOTOS = [
    pytest.param(lambda: b"", _GOOD_BOX, None, r"empty file \(0 bytes\)", id="empty-bytes"),
    pytest.param(_truncated_jpeg, _GOOD_BOX, None, r"unreadable image \(image file is truncated", id="truncated-jpeg"),
    pytest.param(lambda: b"name,x,y\nalice,1,2\n" * 10, _GOOD_BOX, None, r"unreadable image \(cannot identify image file", id="text-bytes"),
    pytest.param(lambda: _png(np.full((8, 8, 3), 128)), (1.0, 1.0, 5.0, 5.0), None, r"image too small \(8x8 px, need at least 16\)", id="tiny-8x8-image"),
    pytest.param(lambda: _png(np.full((15, 400, 3), 128)), (1.0, 1.0, 5.0, 5.0), None, r"image too small \(400x15 px", id="one-side-too-small"),
    pytest.param(lambda: _png(_grey_texture()), (300.0, 10.0, 50.0, 50.0), None, r"face box \(300, 10, 50, 50\) lies outside the 240x240 photo", id="box-right-of-photo"),
    pytest.param(lambda: _png(_grey_texture()), (-80.0, -80.0, 80.0, 80.0), None, r"lies outside the 240x240 photo", id="box-touching-corner-from-outside"),
    pytest.param(lambda: _png(_grey_texture()), (50.0, 50.0, 0.0, 40.0), None, r"degenerate face box \(w=0, h=40\)", id="zero-width-box"),
    pytest.param(lambda: _png(_grey_texture()), (50.0, 50.0, 40.0, -3.0), None, r"degenerate face box \(w=40, h=-3\)", id="negative-height-box"),
    pytest.param(
        lambda: _png(_grey_texture()),
        None,
        ((100.0, 100.0), (100.4, 100.3), (100.0, 130.0), (90.0, 150.0), (110.0, 150.0)),
        "eye landmarks coincide; cannot align",
        id="coinciding-eye-landmarks",
    ),
]


@pytest.mark.parametrize("make, box, landmarks, message", BAD_PHOTOS)
def test_bad_photo_raises_face_error_naming_the_problem(make, box, landmarks, message):
    with pytest.raises(FaceError, match=message):
        face_crops(make(), box, landmarks, FaceParams())


def test_min_photo_side_is_16():
    assert MIN_PHOTO_SIDE == 16
    image = decode_image(_png(np.full((16, 16, 3), 50)))
    assert image.size == (16, 16)


def test_decode_image_converts_to_rgb():
    grey = Image.fromarray(np.full((20, 30), 77, dtype=np.uint8), mode="L")
    buf = io.BytesIO()
    grey.save(buf, format="PNG")
    image = decode_image(buf.getvalue())
    assert image.mode == "RGB"
    assert image.size == (30, 20)
    assert np.asarray(image)[0, 0].tolist() == [77, 77, 77]


# --- photos without box or landmarks --------------------------------------------------------


def test_missing_box_with_detection_off_is_rejected(tilted_photo):
    with pytest.raises(FaceError, match="no box or landmarks for this photo and detection is off"):
        face_crops(tilted_photo[0], None, None, FaceParams(detect_missing=False))


def _gradient() -> np.ndarray:
    ramp = np.linspace(0, 255, 200)
    return np.stack([np.tile(ramp, (200, 1)), np.tile(ramp[:, None], (1, 200)), np.full((200, 200), 128.0)], axis=2)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_gradient, id="smooth-gradient"),
        pytest.param(lambda: np.random.default_rng(0).integers(0, 256, (200, 200, 3)), id="random-noise"),
    ],
)
def test_faceless_photo_is_rejected_by_mtcnn(make):
    with pytest.raises(FaceError, match=r"^no face found \(MTCNN\)$"):
        face_crops(_png(make()), None, None, FaceParams())


def test_a_photo_with_landmarks_but_no_box_is_cropped_around_them_when_alignment_is_off():
    from PIL import Image as PILImage

    image = PILImage.new("RGB", (200, 200), (30, 30, 30))
    image.paste((200, 60, 60), (80, 80, 120, 120))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    marks = ((90.0, 90.0), (110.0, 90.0), (100.0, 100.0), (92.0, 110.0), (108.0, 110.0))
    crops, found_by = face_crops(buffer.getvalue(), None, marks, FaceParams(align=False))
    assert found_by == "landmarks" and crops[0].shape == (64, 64, 3)
    centre = crops[0][24:40, 24:40].reshape(-1, 3).mean(0)
    assert centre[0] > centre[1] + 100, "the red square sits in the middle of the crop"
