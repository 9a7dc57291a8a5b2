"""Procedural face photos: the image half of the synthetic stand-in for VGGFace2.

Each identity is a `FaceProfile` of stable traits (head shape, colours, hair, feature sizes
and spacing); a few of them (forehead, lips, hair volume, jaw, head and nose width) are tilted
towards the identity's age and body size (`synth_traits`), which its voice shares.
`render_photo` draws one "photo" of that identity: a cartoon-like but structured face, posed,
lit and framed differently every time, with the box and five landmarks a VGGFace2 annotation
would give.

Coordinates. Faces are designed in a *face frame*: the origin is the centre of the head
ellipse, x grows to the right of the picture and y downwards, and one unit is half the
face's width. The face is drawn from that frame onto a supersampled canvas, and the canvas
is placed in the photo by one scale + rotation + translation. Landmarks are pushed through
the very same maps, so they are exact in photo pixels (a pixel's centre sits at its integer
index, as in VGGFace2's files).

Everything random is drawn from the `numpy.random.Generator` passed in, so the same
generator state gives the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from v2f_bench.data.records import Box, Landmarks
from v2f_bench.data.synth_traits import LINKS, Traits, couple, latent, side_links

RGB = tuple[int, int, int]

_LIGHT, _TEMP, _TINT, _NOISE, _YAW = 1.0, 0.22, 0.08, 12.0, 30.0
_OCCLUDE, _HAT = 0.45, 0.25
"""Nuisance strengths (light gradient per face width, white-balance shifts, noise sigma, yaw in
degrees) and the chances of an occluder or a cap. Tuned so a linear classifier on 32x32
eye-aligned crops tells 9 identities apart about 85 % of the time, not 100 %."""
_UNIT = 44.0
"""Canvas pixels per face-frame unit. A face is then 88 px wide on the canvas, about 1.5x to 2x
the width it gets in a photo, which is the supersampling that anti-aliases the polygons."""
_CANVAS_X = (-1.6, 1.6)
_CANVAS_Y = (-1.95, 2.55)
"""Face-frame extent of the canvas: room for ears, big hair and long hair below the chin."""
_CHEEKS = 2.4
"""How much fuller the lower face gets per unit of `jaw_width` above the middle of its sex's range
(the jaw ranges span 0.23, so the cheeks' half-width at mouth level spans about +-28 %, lean to full).
At 1.2 (+-14 %) a probe on one photo's proportions did not find body size even at coupling 2; at 2.4 it
does (R^2 0.12, tests/data/test_synth_traits.py), and lean and full faces still look like faces."""

HAIR_STYLES = ("bald", "short", "fringe", "side_part", "long", "bun")
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "beard")
GLASSES = ("none", "round", "square")

_SKIN_TONES = np.array([[241, 206, 186], [224, 178, 148], [198, 146, 110], [160, 110, 78], [105, 70, 50]], float)
_HAIR_COLOURS = np.array(
    [[28, 22, 20], [58, 40, 30], [98, 66, 42], [140, 78, 44], [196, 160, 104], [150, 146, 142], [222, 218, 210]],
    float,
)
_HAIR_WEIGHTS = np.array([0.36, 0.30, 0.14, 0.05, 0.08, 0.05, 0.02])
_EYE_COLOURS = np.array([[70, 45, 30], [110, 72, 40], [120, 110, 60], [70, 110, 80], [70, 110, 160], [110, 120, 130]], float)

_LINKED_RANGES: dict[str, dict[str, tuple[float, float, float]]] = {
    "m": {
        "head_aspect": (1.18, 1.42, 0.03),
        "jaw_width": (0.72, 0.95, 0.0),
        "hair_volume": (0.05, 0.3, 0.0),
        "hairline": (0.7, 1.0, 0.0),
        "nose_width": (0.1, 0.17, 0.015),
        "lip_thickness": (0.05, 0.09, 0.0),
    },
    "f": {
        "head_aspect": (1.18, 1.42, 0.0),
        "jaw_width": (0.62, 0.85, 0.0),
        "hair_volume": (0.05, 0.3, 0.0),
        "hairline": (0.7, 1.0, 0.0),
        "nose_width": (0.1, 0.17, 0.0),
        "lip_thickness": (0.05, 0.09, 0.015),
    },
}
"""Per-gender (lo, hi, offset) of the face parameters that `synth_traits.LINKS` ties to age and size:
the value is uniform on [lo, hi] (tilted by the traits), then the gender offset is added. Kept in
one place so `face_latents` can invert the draw."""


@dataclass(frozen=True)
class FaceProfile:
    """The stable look of one identity; lengths are in face-frame units (half a face width)."""

    gender: str
    """``"m"`` or ``"f"``; only shifts the distributions the other traits were drawn from."""
    head_aspect: float
    """Half-height over half-width of the head ellipse (forehead top to chin)."""
    jaw_width: float
    """Width of the jaw line relative to the cheekbones; lower is a narrower, pointier chin."""
    jaw_squareness: float
    """Superellipse exponent of the lower face: 2 is round, larger is squarer."""
    skin: RGB
    """Skin colour."""
    hair: RGB
    """Hair colour, also used (darkened) for eyebrows and facial hair."""
    hair_style: str
    """One of `HAIR_STYLES`."""
    hair_volume: float
    """How far the hair stands out beyond the skull."""
    hairline: float
    """Height of the hairline above the eyes; a larger value is a higher forehead."""
    eye_spacing: float
    """Distance from the face's midline to each eye centre."""
    eye_height: float
    """Vertical position of the eyes in the face frame (negative is above the ellipse centre)."""
    eye_size: float
    """Half-width of an eye opening."""
    eye_colour: RGB
    """Iris colour."""
    brow_thickness: float
    """Thickness of the eyebrows."""
    brow_angle: float
    """Tilt of the eyebrows in degrees; positive raises their outer ends."""
    nose_length: float
    """Vertical distance from the eyes to the nose tip."""
    nose_width: float
    """Half-width of the nostrils."""
    mouth_width: float
    """Half-width of the mouth, centre to corner."""
    mouth_gap: float
    """Vertical distance from the nose tip to the mouth line."""
    lip_thickness: float
    """Thickness of the lower lip; the upper lip is a little thinner."""
    lip: RGB
    """Lip colour."""
    ear_size: float
    """Half-height of the ears."""
    facial_hair: str
    """One of `FACIAL_HAIR`."""
    glasses: str
    """One of `GLASSES`."""
    glasses_colour: RGB
    """Colour of the glasses' frame."""


def sample_face_profile(
    rng: np.random.Generator, gender: str, traits: Traits | None = None, coupling: float = 0.0
) -> FaceProfile:
    """Draw a random identity; ``gender`` is ``"m"`` or ``"f"`` and shifts some traits.

    Traits come from overlapping distributions (a few skin tones, a few hair colours, sizes
    from narrow ranges), so many identities share any single trait and only the combination
    tells them apart. With `traits`, the parameters in `synth_traits.LINKS` are tilted towards
    the identity's age and size at that `coupling` (their marginals stay the same); the
    generator is used the same way either way, so no traits or coupling 0 gives the very
    profile drawn before traits existed.
    """
    if gender not in ("m", "f"):
        raise ValueError(f"gender must be 'm' or 'f', not {gender!r}")
    male = gender == "m"
    ranges = _LINKED_RANGES[gender]
    tilt = {name: (z, rho) for name, z, rho in side_links("face", traits, coupling)}

    def linked(name: str) -> float:
        """One draw of a linked parameter: uniform on its range, tilted, plus the gender offset."""
        lo, hi, offset = ranges[name]
        x = float(rng.uniform(lo, hi))
        if name in tilt:
            x = couple(x, lo, hi, *tilt[name])
        return x + offset

    skin = _mix_palette(rng, _SKIN_TONES, rng.uniform(0, len(_SKIN_TONES) - 1), 10)
    hair = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_WEIGHTS)] + rng.normal(0, 8, 3)
    style_p = [0.14, 0.40, 0.14, 0.22, 0.07, 0.03] if male else [0.0, 0.10, 0.18, 0.17, 0.43, 0.12]
    beard_p = [0.55, 0.15, 0.1, 0.08, 0.12] if male else [1.0, 0, 0, 0, 0]
    lip = np.array(skin) * np.array([0.86, 0.62, 0.62])
    if not male and rng.random() < 0.35:
        lip = np.array([170, 50, 60]) + rng.normal(0, 15, 3)
    return FaceProfile(
        gender=gender,
        head_aspect=linked("head_aspect"),
        jaw_width=linked("jaw_width"),
        jaw_squareness=float(rng.uniform(2.2, 3.4) if male else rng.uniform(1.9, 2.7)),
        skin=_rgb(skin),
        hair=_rgb(hair),
        hair_style=str(rng.choice(HAIR_STYLES, p=style_p)),
        hair_volume=linked("hair_volume"),
        hairline=linked("hairline"),
        eye_spacing=float(rng.uniform(0.36, 0.47)),
        eye_height=float(rng.uniform(-0.12, 0.04)),
        eye_size=float(rng.uniform(0.13, 0.18) + (0 if male else 0.01)),
        eye_colour=_rgb(_EYE_COLOURS[rng.integers(len(_EYE_COLOURS))] + rng.normal(0, 8, 3)),
        brow_thickness=float(rng.uniform(0.05, 0.1) if male else rng.uniform(0.03, 0.065)),
        brow_angle=float(rng.uniform(-10, 14)),
        nose_length=float(rng.uniform(0.5, 0.72)),
        nose_width=linked("nose_width"),
        mouth_width=float(rng.uniform(0.27, 0.4)),
        mouth_gap=float(rng.uniform(0.22, 0.34)),
        lip_thickness=linked("lip_thickness"),
        lip=_rgb(lip),
        ear_size=float(rng.uniform(0.2, 0.28)),
        facial_hair=str(rng.choice(FACIAL_HAIR, p=beard_p)),
        glasses=str(rng.choice(GLASSES, p=[0.75, 0.12, 0.13])),
        glasses_colour=_rgb(rng.choice([[20, 20, 20], [120, 80, 40], [160, 160, 170]]) + rng.normal(0, 6, 3)),
    )


def face_latents(profile: FaceProfile) -> dict[str, float]:
    """The standard-normal latents of `profile`'s linked parameters (parameter -> latent).

    The inverse of the draw in `sample_face_profile`: gender offset removed, uniform range
    probited. At coupling c a latent correlates with its trait at `synth_traits.link_strength`.
    """
    ranges = _LINKED_RANGES[profile.gender]
    out = {}
    for link in LINKS:
        if link.side == "face":
            lo, hi, offset = ranges[link.parameter]
            out[link.parameter] = latent(getattr(profile, link.parameter) - offset, lo, hi)
    return out


@dataclass(frozen=True)
class _Shot:
    """The per-photo nuisances: pose, expression, framing, lighting and camera."""

    yaw: float
    """Head turn in radians; positive turns the face towards the right of the picture."""
    pitch: float
    """Vertical shift of the features, a cheap stand-in for nodding."""
    roll: float
    """In-plane rotation in radians, counter-clockwise as seen."""
    smile: float
    mouth_open: float
    eye_open: float
    brow_raise: float
    size: tuple[int, int]
    face_px: float
    """Width of the face (two face-frame units) in photo pixels."""
    light_dir: float
    """Direction the light comes from, in radians in the picture plane."""
    light_strength: float
    """Brightness change per face width along the light direction."""
    brightness: float
    temperature: float
    """Warm (positive) or cold white balance."""
    tint: float
    """Green (positive) or magenta white balance."""
    saturation: float
    noise: float
    blur: float
    shirt: RGB
    hat: RGB | None
    """Colour of a cap worn in this photo, or None for no cap."""


def render_photo(profile: FaceProfile, rng: np.random.Generator) -> tuple[Image.Image, Box, Landmarks]:
    """Render one RGB photo of ``profile``; return it with its loose head box and five landmarks.

    The photo is 160 to 280 px per side, the face 30 to 60 % of the shorter side wide, placed
    anywhere it fits; pose, expression, lighting, background and camera noise change every call.
    """
    shot = _sample_shot(rng)
    canvas, frame_points = _draw_face(profile, shot, rng)
    scale = shot.face_px / (2 * _UNIT)
    small = canvas.resize((round(canvas.width * scale), round(canvas.height * scale)), Image.Resampling.BILINEAR)
    sx, sy = small.width / canvas.width, small.height / canvas.height
    _fade_bottom(small, profile, sy)
    rot = np.array([[math.cos(shot.roll), math.sin(shot.roll)], [-math.sin(shot.roll), math.cos(shot.roll)]])
    origin = np.array([-_CANVAS_X[0] * _UNIT * sx, -_CANVAS_Y[0] * _UNIT * sy])
    to_small = np.array([_UNIT * sx, _UNIT * sy])
    centre = _place(profile, shot, rot, to_small, rng)

    def to_photo(pts: np.ndarray) -> np.ndarray:
        """Face-frame points to photo pixel centres (continuous coordinates minus half a pixel)."""
        return (pts * to_small) @ rot.T + centre - 0.5

    inverse = rot.T
    offset = origin - (centre @ inverse.T)
    face = small.transform(
        shot.size,
        Image.Transform.AFFINE,
        (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1]),
        resample=Image.Resampling.BILINEAR,
    )
    photo = _background(shot.size, rng)
    photo.paste(face, (0, 0), face)
    _occlude(photo, centre, shot, rng)
    photo = _camera(photo, shot, centre, rng)
    marks = to_photo(frame_points["landmarks"])
    box = _loose_box(to_photo(frame_points["head"]), shot.size)
    return photo, box, tuple((float(x), float(y)) for x, y in marks)


def _sample_shot(rng: np.random.Generator) -> _Shot:
    size = (int(rng.integers(160, 281)), int(rng.integers(160, 281)))
    return _Shot(
        yaw=math.radians(rng.uniform(-_YAW, _YAW)),
        pitch=float(rng.uniform(-0.08, 0.08)),
        roll=math.radians(rng.uniform(-20, 20)),
        smile=float(rng.uniform(-0.3, 1.0)),
        mouth_open=float(0.0 if rng.random() < 0.6 else rng.uniform(0.1, 1.0)),
        eye_open=float(0.15 if rng.random() < 0.08 else rng.uniform(0.55, 1.1)),
        brow_raise=float(rng.uniform(-0.04, 0.1)),
        size=size,
        face_px=float(rng.uniform(0.30, 0.60) * min(size)),
        light_dir=float(rng.uniform(0, 2 * math.pi)),
        light_strength=float(rng.uniform(0.0, _LIGHT)),
        brightness=float(rng.uniform(0.6, 1.3)),
        temperature=float(rng.uniform(-_TEMP, _TEMP)),
        tint=float(rng.uniform(-_TINT, _TINT)),
        saturation=float(rng.uniform(0.6, 1.3)),
        noise=float(rng.uniform(1.0, _NOISE)),
        blur=float(rng.uniform(0.3, 1.1) if rng.random() < 0.4 else 0.0),
        shirt=_rgb(rng.uniform(20, 235, 3)),
        hat=_rgb(rng.uniform(10, 245, 3)) if rng.random() < _HAT else None,
    )


class _Frame:
    """Maps face-frame points to canvas pixels, bending them for yaw and pitch.

    Yaw treats the face as a cylinder of radius ``1 + depth`` around a vertical axis: a point
    at ``x = r sin(phi)`` moves to ``r sin(phi + yaw)``, so features slide sideways and the far
    half gets narrower, and the protruding nose slides furthest. The silhouette is not a
    feature on the face and only bends gently (`outline`).
    """

    def __init__(self, shot: _Shot):
        self.yaw = shot.yaw
        self.pitch = shot.pitch

    def feature(self, pts: np.ndarray, depth: float = 0.0) -> np.ndarray:
        r = 1.0 + depth
        phi = np.arcsin(np.clip(pts[:, 0] / r, -0.999, 0.999))
        x = r * np.sin(np.clip(phi + self.yaw, -math.pi / 2, math.pi / 2))
        y = pts[:, 1] + self.pitch * (1 + depth) * np.cos(phi)
        return np.stack([x, y], axis=1)

    def outline(self, pts: np.ndarray) -> np.ndarray:
        x = pts[:, 0] + 0.3 * math.sin(self.yaw) * np.clip(1 - pts[:, 0] ** 2, 0, 1)
        return np.stack([x, pts[:, 1]], axis=1)


def _px(pts: np.ndarray) -> list[float]:
    """Face-frame points to the flat coordinate list ImageDraw wants.

    ImageDraw fills polygons in continuous coordinates (pixel i spans i to i + 1), the same
    convention `Image.resize` and `Image.transform` use, so no half-pixel shift is needed here.
    """
    return ((pts - [_CANVAS_X[0], _CANVAS_Y[0]]) * _UNIT).ravel().tolist()


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 28, t0: float = 0.0, t1: float = 2 * math.pi) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _head_outline(p: FaceProfile, n: int = 64) -> np.ndarray:
    """The head silhouette: a round skull on top, a superellipse jaw below, clockwise from the right.

    `jaw_width` narrows the jaw towards the chin and, measured from the middle of its sex's range,
    fills out the cheeks (`_CHEEKS`): a wide-jawed face is fuller over the whole lower face, as
    heavier people's faces are, and a narrow-jawed one is leaner there.
    """
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    lower = s > 0
    expo = np.where(lower, 2 / p.jaw_squareness, 1.0)
    x = np.sign(c) * np.abs(c) ** expo
    y = p.head_aspect * np.sign(s) * np.abs(s) ** expo
    lo, hi, offset = _LINKED_RANGES[p.gender]["jaw_width"]
    fullness = p.jaw_width - offset - (lo + hi) / 2
    cheeks = 1 + _CHEEKS * fullness * np.sin(math.pi * np.abs(s)) ** 0.7
    x = x * np.where(lower, (1 - (1 - p.jaw_width) * np.abs(s) ** 1.5) * cheeks, 1.0)
    return np.stack([x, y], axis=1)


def _draw_face(p: FaceProfile, shot: _Shot, rng: np.random.Generator) -> tuple[Image.Image, dict[str, np.ndarray]]:
    """Draw the face on an RGBA canvas; return it with the face-frame landmarks and head points."""
    w = round((_CANVAS_X[1] - _CANVAS_X[0]) * _UNIT)
    h = round((_CANVAS_Y[1] - _CANVAS_Y[0]) * _UNIT)
    rgb = Image.new("RGB", (w, h), p.skin)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(rgb, "RGBA")
    sil = ImageDraw.Draw(mask)
    fr = _Frame(shot)
    head = fr.outline(_head_outline(p))

    def fill(pts: np.ndarray, colour, solid: bool = False) -> None:
        draw.polygon(_px(pts), fill=colour)
        if solid:
            sil.polygon(_px(pts), fill=255)

    hair_back, hair_top = _hair_shapes(p, fr)
    for shape in hair_back:
        fill(shape, p.hair, solid=True)
    fill(np.array([[-0.5, 0.5], [0.5, 0.5], [0.55, 2.6], [-0.55, 2.6]]), _shade(p.skin, 0.82), solid=True)
    fill(_shirt(p), shot.shirt, solid=True)
    for side in (-1, 1):
        ear_x = side * (0.98 - 0.12 * side * math.sin(shot.yaw))
        fill(fr.outline(_ellipse(ear_x, p.eye_height + 0.25, 0.12, p.ear_size)), _shade(p.skin, 0.9), solid=True)
    fill(head, p.skin, solid=True)
    _draw_facial_hair(p, fr, fill)
    for shape in hair_top:
        fill(shape, p.hair, solid=True)
    if shot.hat is not None:
        fill(fr.outline(_hat(p)), shot.hat, solid=True)
    eyes = _draw_eyes(p, shot, fr, draw)
    nose = _draw_nose(p, shot, fr, draw)
    corners = _draw_mouth(p, shot, fr, fill)
    _draw_glasses(p, fr, draw)
    rgb.putalpha(mask)
    landmarks = np.vstack([eyes, nose[None], corners])
    return rgb, {"landmarks": landmarks, "head": np.vstack([head, *hair_top]) if hair_top else head}


def _hair_shapes(p: FaceProfile, fr: _Frame) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Polygons for hair behind the head and hair over the skull, by style."""
    back: list[np.ndarray] = []
    top: list[np.ndarray] = []
    a, v = p.head_aspect, p.hair_volume
    temple = p.eye_height - 0.05
    crown = p.eye_height - p.hairline
    if p.hair_style == "long":
        back.append(np.vstack([_ellipse(0, 0, 1.12 + v, a + v, 24, math.pi, 2 * math.pi), [[1.2 + v, a + 0.9], [-1.2 - v, a + 0.9]]]))
    if p.hair_style == "bun":
        back.append(_ellipse(0, -a - v - 0.15, 0.35, 0.3))
    if p.hair_style == "bald":
        for side in (-1, 1):
            top.append(np.array([[side * 1.0, temple - 0.3], [side * 1.05, temple - 0.15], [side * 1.02, temple + 0.15], [side * 0.94, temple + 0.1]]))
        return [fr.outline(s) for s in back], [fr.outline(s) for s in top]
    xs = np.linspace(0.97, -0.97, 21)
    if p.hair_style == "fringe":
        line = p.eye_height - 0.36 + 0.05 * (np.arange(21) % 2)
    elif p.hair_style in ("side_part", "long"):
        line = crown + 0.25 * (xs + 1) / 2 + 0.1 * xs**2
    else:
        line = crown + 0.15 * xs**2
    line = line + (temple - line) * np.abs(xs) ** 4
    cap = np.vstack([_ellipse(0, 0, 1.02 + 0.4 * v, a + v, 24, math.pi * 0.93, math.pi * 2.07), np.stack([xs, line], axis=1)])
    top.append(cap)
    return [fr.outline(s) for s in back], [fr.outline(s) for s in top]


def _hat(p: FaceProfile) -> np.ndarray:
    """A cap: a dome over the skull and a brim across the forehead."""
    brim_y = p.eye_height - 0.45
    dome = _ellipse(0, brim_y, 1.08 + 0.3 * p.hair_volume, brim_y + p.head_aspect + p.hair_volume + 0.1, 24, math.pi, 2 * math.pi)
    return np.vstack([dome, [[1.1, brim_y + 0.12], [-1.1, brim_y + 0.12]]])


def _shirt(p: FaceProfile) -> np.ndarray:
    y0 = p.head_aspect + 0.55
    return np.array([[-0.5, y0], [0.0, y0 + 0.3], [0.5, y0], [1.6, y0 + 0.5], [1.6, 2.6], [-1.6, 2.6], [-1.6, y0 + 0.5]])


def _draw_eyes(p: FaceProfile, shot: _Shot, fr: _Frame, draw: ImageDraw.ImageDraw) -> np.ndarray:
    """Draw both eyes and brows; return the two eye centres, picture-left first."""
    centres = []
    opening = p.eye_size * 0.55 * shot.eye_open
    brow_colour = _shade(p.hair, 0.7)
    for side in (-1, 1):
        cx, cy = side * p.eye_spacing, p.eye_height
        xs = np.linspace(-p.eye_size, p.eye_size, 15)
        bulge = 1 - (xs / p.eye_size) ** 2
        upper = cy - opening * bulge
        lower = cy + opening * 0.7 * bulge
        almond = np.vstack([np.stack([cx + xs, upper], 1), np.stack([cx + xs[::-1], lower[::-1]], 1)])
        draw.polygon(_px(fr.feature(almond)), fill=(238, 236, 230))
        iris_r = p.eye_size * 0.48
        for radius, colour in ((iris_r, p.eye_colour), (iris_r * 0.45, (15, 12, 12))):
            disc = _ellipse(cx, cy, radius, radius, 20)
            rel = np.clip((disc[:, 0] - cx) / p.eye_size, -1, 1)
            disc[:, 1] = np.clip(disc[:, 1], cy - opening * (1 - rel**2), cy + opening * 0.7 * (1 - rel**2))
            draw.polygon(_px(fr.feature(disc)), fill=colour)
        draw.line(_px(fr.feature(np.stack([cx + xs, upper], 1))), fill=(30, 20, 20), width=max(2, round(0.035 * _UNIT)))
        centres.append(fr.feature(np.array([[cx, cy]]))[0])
        draw.polygon(_px(fr.feature(_brow(p, shot, side))), fill=brow_colour)
    return np.array(centres)


def _brow(p: FaceProfile, shot: _Shot, side: int) -> np.ndarray:
    xs = np.linspace(-0.14, 0.24, 10)
    tilt = math.tan(math.radians(p.brow_angle))
    mid = p.eye_height - 0.22 - shot.brow_raise - 0.06 * (1 - ((xs - 0.05) / 0.19) ** 2) - tilt * xs
    half = p.brow_thickness / 2 * (1 - 0.5 * (xs - xs[0]) / (xs[-1] - xs[0]))
    x = side * (p.eye_spacing + xs)
    return np.vstack([np.stack([x, mid - half], 1), np.stack([x[::-1], (mid + half)[::-1]], 1)])


def _draw_nose(p: FaceProfile, shot: _Shot, fr: _Frame, draw: ImageDraw.ImageDraw) -> np.ndarray:
    """Draw the nose as shading and nostrils; return its tip."""
    tip_y = p.eye_height + p.nose_length
    shade = _shade(p.skin, 0.72)
    bridge = np.array([[0.08, p.eye_height + 0.1], [0.1, tip_y - 0.15]])
    bridge[:, 0] *= 1 if shot.yaw < 0 else -1
    draw.line(_px(fr.feature(bridge, 0.2)), fill=shade + (140,), width=max(2, round(0.04 * _UNIT)))
    draw.polygon(_px(fr.feature(_ellipse(0, tip_y - 0.02, p.nose_width * 0.8, 0.07), 0.35)), fill=(0, 0, 0, 18))
    for side in (-1, 1):
        nostril = _ellipse(side * p.nose_width * 0.55, tip_y + 0.05, p.nose_width * 0.35, 0.035, 14)
        draw.polygon(_px(fr.feature(nostril, 0.25)), fill=_shade(p.skin, 0.45))
    return fr.feature(np.array([[0.0, tip_y]]), 0.35)[0]


def _draw_mouth(p: FaceProfile, shot: _Shot, fr: _Frame, fill) -> np.ndarray:
    """Draw lips (and an opening when the mouth is open); return the two corners, picture-left first."""
    mw, th = p.mouth_width * (1 + 0.15 * max(shot.smile, 0)), p.lip_thickness
    y0 = p.eye_height + p.nose_length + p.mouth_gap
    xs = np.linspace(-mw, mw, 17)
    bend = 1 - (xs / mw) ** 2
    corner_y = y0 - 0.07 * shot.smile
    line = corner_y + 0.06 * shot.smile * bend
    gap = 0.16 * shot.mouth_open * bend
    upper_top = line - th * 0.8 * bend + 0.02 * np.exp(-((xs / 0.06) ** 2)) * bend
    lower_bottom = line + gap + th * 1.1 * bend
    top_edge = np.stack([xs, line], 1)
    bottom_edge = np.stack([xs, line + gap], 1)
    depth = 0.1
    if shot.mouth_open > 0:
        fill(fr.feature(np.vstack([top_edge, bottom_edge[::-1]]), depth), (60, 20, 25))
        if shot.smile > 0.3:
            teeth = np.vstack([top_edge, np.stack([xs, line + gap * 0.35], 1)[::-1]])
            fill(fr.feature(teeth, depth), (235, 232, 220))
    fill(fr.feature(np.vstack([np.stack([xs, upper_top], 1), top_edge[::-1]]), depth), _shade(p.lip, 0.92))
    fill(fr.feature(np.vstack([bottom_edge, np.stack([xs, lower_bottom], 1)[::-1]]), depth), p.lip)
    return fr.feature(np.array([[-mw, corner_y], [mw, corner_y]]), depth)


def _draw_facial_hair(p: FaceProfile, fr: _Frame, fill) -> None:
    if p.facial_hair == "none":
        return
    mouth_y = p.eye_height + p.nose_length + p.mouth_gap
    colour = _shade(p.hair, 0.85)
    if p.facial_hair in ("stubble", "beard"):
        jaw = _head_outline(p, 64)
        jaw = jaw[jaw[:, 1] > mouth_y - 0.3]
        jaw = jaw[np.argsort(np.arctan2(jaw[:, 1], jaw[:, 0]))]
        inner = _ellipse(0, mouth_y + 0.02, p.mouth_width + 0.08, 0.16)
        alpha = 70 if p.facial_hair == "stubble" else 255
        fill(fr.outline(jaw), colour + (alpha,))
        fill(fr.feature(inner, 0.1), p.skin)
    if p.facial_hair in ("moustache", "beard"):
        xs = np.linspace(-p.mouth_width - 0.04, p.mouth_width + 0.04, 11)
        top = mouth_y - 0.2 + 0.03 * (xs / xs[-1]) ** 2
        bottom = mouth_y - 0.06 + 0.06 * (xs / xs[-1]) ** 2
        fill(fr.feature(np.vstack([np.stack([xs, top], 1), np.stack([xs[::-1], bottom[::-1]], 1)]), 0.15), colour)
    if p.facial_hair == "goatee":
        fill(fr.feature(_ellipse(0, mouth_y + 0.28, 0.17, 0.16), 0.05), colour)


def _draw_glasses(p: FaceProfile, fr: _Frame, draw: ImageDraw.ImageDraw) -> None:
    if p.glasses == "none":
        return
    width = max(2, round(0.035 * _UNIT))
    rx, ry = p.eye_size * 1.35, p.eye_size * 0.95
    for side in (-1, 1):
        cx, cy = side * p.eye_spacing, p.eye_height + 0.02
        if p.glasses == "round":
            rim = _ellipse(cx, cy, rx, ry, 28)
        else:
            rim = np.array([[cx - rx, cy - ry], [cx + rx, cy - ry], [cx + rx * 0.9, cy + ry], [cx - rx * 0.9, cy + ry], [cx - rx, cy - ry]])
        draw.polygon(_px(fr.feature(rim, 0.08)), fill=(200, 220, 240, 40))
        draw.line(_px(fr.feature(rim, 0.08)), fill=p.glasses_colour, width=width)
    bridge = np.array([[-p.eye_spacing + rx, p.eye_height - 0.02], [p.eye_spacing - rx, p.eye_height - 0.02]])
    draw.line(_px(fr.feature(bridge, 0.12)), fill=p.glasses_colour, width=width)


def _fade_bottom(face: Image.Image, p: FaceProfile, sy: float) -> None:
    """Fade the canvas out below the shoulders so its bottom edge never shows as a cut."""
    start = (p.head_aspect + 0.6 - _CANVAS_Y[0]) * _UNIT * sy
    alpha = np.asarray(face.getchannel("A"), dtype=np.float32)
    rows = np.arange(alpha.shape[0], dtype=np.float32)
    ramp = np.clip(1 - (rows - start) / max(alpha.shape[0] - start, 1), 0, 1)
    face.putalpha(Image.fromarray((alpha * ramp[:, None]).astype(np.uint8)))


def _place(p: FaceProfile, shot: _Shot, rot: np.ndarray, to_small: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pick where the face centre goes: anywhere the whole (rotated) head ellipse stays in the photo."""
    pts = (_head_outline(p, 32) * to_small) @ rot.T
    lo, hi = -pts.min(axis=0), np.array(shot.size) - pts.max(axis=0)
    return np.array([rng.uniform(l, h) if h > l else (l + h) / 2 for l, h in zip(lo, hi)])


def _loose_box(head: np.ndarray, size: tuple[int, int]) -> Box:
    """A VGGFace2-style loose box: the head (hair included) plus a margin, clipped to the photo."""
    x0, y0 = head.min(axis=0)
    x1, y1 = head.max(axis=0)
    mx, my = 0.12 * (x1 - x0), 0.1 * (y1 - y0)
    x0, y0 = max(x0 - mx, 0.0), max(y0 - my, 0.0)
    x1, y1 = min(x1 + mx, size[0] - 1.0), min(y1 + my, size[1] - 1.0)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def _background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A random scene: a two-colour gradient, blurry low-frequency texture and a few flat shapes."""
    w, h = size
    c0, c1 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    xx, yy = np.meshgrid(np.linspace(-0.5, 0.5, w, dtype=np.float32), np.linspace(-0.5, 0.5, h, dtype=np.float32))
    t = np.clip(0.5 + math.cos(angle) * xx + math.sin(angle) * yy, 0, 1)[..., None]
    coarse = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    texture = np.asarray(coarse, dtype=np.float32) - 128
    img = c0 * (1 - t) + c1 * t + texture * rng.uniform(0, 0.4)
    photo = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(photo, "RGBA")
    for _ in range(int(rng.integers(0, 5))):
        x, y = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        bw, bh = rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.6) * h
        colour = tuple(int(c) for c in rng.integers(0, 256, 3)) + (int(rng.integers(80, 256)),)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x, y, x + bw, y + bh], fill=colour)
    return photo


def _occlude(photo: Image.Image, centre: np.ndarray, shot: _Shot, rng: np.random.Generator) -> None:
    """Sometimes put a flat blob (a hand, a microphone, a caption) over the edge of the face."""
    if rng.random() >= _OCCLUDE:
        return
    angle = rng.uniform(0, 2 * math.pi)
    at = centre + shot.face_px * rng.uniform(0.45, 0.8) * np.array([math.cos(angle), math.sin(angle)])
    half = shot.face_px * rng.uniform(0.12, 0.3, 2)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    shape = ImageDraw.Draw(photo).ellipse if rng.random() < 0.5 else ImageDraw.Draw(photo).rectangle
    shape([*(at - half), *(at + half)], fill=colour)


def _camera(photo: Image.Image, shot: _Shot, face_centre: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Lighting and white balance, then blur and sensor noise.

    The light's gradient is measured in face widths from the face centre, so a side light
    darkens one cheek however small the face is in the frame.
    """
    w, h = shot.size
    if shot.blur > 0:
        photo = photo.filter(ImageFilter.GaussianBlur(shot.blur))
    xx = (np.arange(w, dtype=np.float32)[None, :] - face_centre[0]) / shot.face_px
    yy = (np.arange(h, dtype=np.float32)[:, None] - face_centre[1]) / shot.face_px
    slope = np.clip(math.cos(shot.light_dir) * xx + math.sin(shot.light_dir) * yy, -0.8, 0.8)
    gain = shot.brightness * (1 + shot.light_strength * slope)
    balance = np.array([1 + shot.temperature, 1 + shot.tint, 1 - shot.temperature], dtype=np.float32)
    img = np.asarray(photo, dtype=np.float32)
    grey = img.mean(axis=2, keepdims=True)
    img = (grey + shot.saturation * (img - grey)) * gain[..., None] * balance
    img += rng.normal(0, shot.noise, img.shape).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _shade(colour: RGB, factor: float) -> RGB:
    return _rgb(np.array(colour, float) * factor)


def _rgb(values) -> RGB:
    r, g, b = (int(v) for v in np.clip(np.round(values), 0, 255))
    return (r, g, b)


def _mix_palette(rng: np.random.Generator, palette: np.ndarray, position: float, jitter: float) -> np.ndarray:
    """A colour at a fractional position along a palette, plus a little noise."""
    i = min(int(position), len(palette) - 2)
    f = position - i
    return palette[i] * (1 - f) + palette[i + 1] * f + rng.normal(0, jitter, 3)
