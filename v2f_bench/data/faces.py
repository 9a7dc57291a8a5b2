"""Face crops: decode a photo, find the face, align it by the eyes, resize, min-max normalise.

The face comes from the dataset's box and landmarks when it has them (VGGFace2's loose box and
five points, VGGFace1's box) and from MTCNN (facenet-pytorch, weights shipped in its wheel)
otherwise. With eye landmarks the photo is warped by the similarity transform (rotation, uniform
scale, shift) that puts the eyes on fixed template positions, as OpenFace/dlib alignment does in
the authors' code; without them the square around the box centre, of side max(w, h), is cropped.
Each output size is warped straight from the photo, so no crop is resampled twice.

Crops are min-max normalised per image, x' = (x - min) / (max - min) over all pixels and channels,
and stored as uint8 round(255 x'): divide by 255 for the [0, 1] images the paper feeds its networks.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass

import numpy as np

from v2f_bench.data.records import Box, Landmarks
from v2f_bench.errors import UserError, first_line

LEFT_EYE_TEMPLATE = (0.34, 0.42)
RIGHT_EYE_TEMPLATE = (0.66, 0.42)
"""Where the eyes land in an aligned crop, as fractions of its side (x, y); the face then fills about 0.8 of the width."""

MIN_PHOTO_SIDE = 16

MIN_JUDGE_SIZE = 75
"""Smallest judge crop facenet-pytorch's InceptionResnetV1 accepts: its stride-2 stem shrinks a
smaller input below the 3x3 kernel of a later layer."""


@dataclass(frozen=True)
class FaceParams:
    """Parameters of the face crops."""

    generator_size: int = 64
    """Side of the crops the generators learn to produce (the paper's 64x64)."""
    judge_size: int = 96
    """Side of the crops the face judge embeds: the paper's 96. facenet-pytorch's pretrained
    InceptionResnetV1 was trained at 160 (use that with pretrained weights); training the judge on
    a CPU is about 15 times cheaper at 96."""
    align: bool = True
    """Align by the eye landmarks when they exist; otherwise crop the box."""
    detect_missing: bool = True
    """Run MTCNN on photos that have no box."""

    @property
    def sizes(self) -> tuple[int, int]:
        return (self.generator_size, self.judge_size)

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """One-line ``UserError`` for sizes no crop or network can use (checked before any photo is read)."""
        if isinstance(self.judge_size, bool) or not isinstance(self.judge_size, int) or self.judge_size < MIN_JUDGE_SIZE:
            raise UserError(f"--judge-size {self.judge_size!r}: must be an integer of at least {MIN_JUDGE_SIZE} "
                            "(the judge network's smallest input); use 96 (the paper's) or 160 (pretrained facenet weights)")
        if isinstance(self.generator_size, bool) or not isinstance(self.generator_size, int) or self.generator_size < 1:
            raise UserError(f"generator crop size {self.generator_size!r}: must be a positive integer")


class FaceError(Exception):
    """A photo that cannot be used; the message is the reason recorded in the manifest."""


def decode_image(data: bytes):
    """Bytes -> RGB PIL image, fully loaded so truncated files fail here."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise FaceError("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise FaceError(f"unreadable image ({first_line(exc, type(exc).__name__)})") from None
    if min(image.size) < MIN_PHOTO_SIDE:
        raise FaceError(f"image too small ({image.size[0]}x{image.size[1]} px, need at least {MIN_PHOTO_SIDE})")
    return image.convert("RGB")


def face_crops(data: bytes, box: Box | None, landmarks: Landmarks | None, params: FaceParams) -> tuple[list[np.ndarray], str]:
    """Encoded photo -> one uint8 (S, S, 3) crop per size in ``params.sizes``, and how the face was found.

    The second value is ``landmarks``, ``box`` or ``mtcnn``. Raises ``FaceError`` with the reason.
    """
    image = decode_image(data)
    source = "landmarks" if landmarks is not None else "box"
    if box is None and landmarks is None:
        if not params.detect_missing:
            raise FaceError("no box or landmarks for this photo and detection is off")
        box, landmarks = detect_face(image)
        source = "mtcnn"
    if box is None:
        box = box_around(landmarks)
    _check_box(box, image.size)
    crops = []
    for size in params.sizes:
        if params.align and landmarks is not None:
            crop = _aligned(image, landmarks, size)
        else:
            crop = _boxed(image, box, size)
        crops.append(min_max_uint8(np.asarray(crop, dtype=np.float32)))
    return crops, source


def box_around(landmarks: Landmarks) -> Box:
    """A square box for a photo that has landmarks but no box: centred on the five points, of side
    twice their larger extent (the points span the inner face; the box should hold the head)."""
    xs, ys = [p[0] for p in landmarks], [p[1] for p in landmarks]
    side = 2.0 * max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    cx, cy = (max(xs) + min(xs)) / 2.0, (max(ys) + min(ys)) / 2.0
    return (cx - side / 2.0, cy - side / 2.0, side, side)


def min_max_uint8(pixels: np.ndarray) -> np.ndarray:
    """Per-image min-max normalisation to [0, 1] over all pixels and channels, stored as uint8 0..255."""
    low, high = float(pixels.min()), float(pixels.max())
    # every pixel the same colour: also a coloured (not grey) one, whose channels differ from each other
    if high - low < 1e-6 or (pixels.ndim == 3 and float(np.ptp(pixels, axis=(0, 1)).max()) < 1e-6):
        raise FaceError("the face crop is a single flat colour")
    return np.round((pixels - low) * (255.0 / (high - low))).astype(np.uint8)


def _check_box(box: Box, image_size: tuple[int, int]) -> None:
    x, y, w, h = box
    width, height = image_size
    if w <= 1 or h <= 1:
        raise FaceError(f"degenerate face box (w={w:g}, h={h:g})")
    overlap_w = min(x + w, width) - max(x, 0)
    overlap_h = min(y + h, height) - max(y, 0)
    if overlap_w <= 0 or overlap_h <= 0:
        raise FaceError(f"face box ({x:g}, {y:g}, {w:g}, {h:g}) lies outside the {width}x{height} photo")


def _boxed(image, box: Box, size: int):
    from PIL import Image

    x, y, w, h = box
    side = max(w, h)
    cx, cy = x + w / 2.0, y + h / 2.0
    region = (cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)
    # PIL's resize refuses a box reaching past the photo; pad with black (as the aligned warp fills) instead.
    pad_left, pad_top = max(0, -math.floor(region[0])), max(0, -math.floor(region[1]))
    pad_right, pad_bottom = max(0, math.ceil(region[2]) - image.width), max(0, math.ceil(region[3]) - image.height)
    if pad_left or pad_top or pad_right or pad_bottom:
        canvas = Image.new(image.mode, (image.width + pad_left + pad_right, image.height + pad_top + pad_bottom))
        canvas.paste(image, (pad_left, pad_top))
        image = canvas
        region = (region[0] + pad_left, region[1] + pad_top, region[2] + pad_left, region[3] + pad_top)
    return image.resize((size, size), Image.Resampling.BICUBIC, box=region)


def _aligned(image, landmarks: Landmarks, size: int):
    """Warp so that the eyes land on the template; a similarity transform from two points."""
    from PIL import Image

    left, right = sorted((complex(*landmarks[0]), complex(*landmarks[1])), key=lambda z: z.real)
    if abs(right - left) < 1.0:
        raise FaceError("eye landmarks coincide; cannot align")
    dst_left = complex(*LEFT_EYE_TEMPLATE) * size
    dst_right = complex(*RIGHT_EYE_TEMPLATE) * size
    inverse = (right - left) / (dst_right - dst_left)
    p, q = inverse.real, inverse.imag
    offset = left - inverse * dst_left
    coeffs = (p, -q, offset.real, q, p, offset.imag)
    return image.transform((size, size), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BICUBIC)


_MTCNN = None


def detect_face(image) -> tuple[Box, Landmarks]:
    """The most confident MTCNN face and its five landmarks. Raises ``FaceError`` when none is found."""
    global _MTCNN
    if _MTCNN is None:
        try:
            from facenet_pytorch import MTCNN
        except ImportError:
            raise FaceError("no box for this photo and facenet-pytorch is not installed for detection") from None
        _MTCNN = MTCNN(keep_all=True, device="cpu")
    boxes, probs, points = _MTCNN.detect(image, landmarks=True)
    if boxes is None or len(boxes) == 0:
        raise FaceError("no face found (MTCNN)")
    best = int(np.argmax(probs))
    x1, y1, x2, y2 = (float(v) for v in boxes[best])
    marks = tuple((float(px), float(py)) for px, py in points[best])
    return (x1, y1, x2 - x1, y2 - y1), marks
