"""Latent traits that drive both the synthetic voice and the synthetic face of one identity.

In real people a voice says something about the face beyond sex: both carry a person's age and
body size. Without such a link a voice-to-face model on the synthetic stand-in could learn
nothing but gender, so each identity draws `Traits` (sex, age, size) and a few voice and face
parameters are tilted towards them, with strengths taken from what is known of real people:

| trait | voice parameters | face parameters | r at coupling 1 | source |
|-------|------------------|-----------------|-----------------|--------|
| size | formant_scale, f0_hz | | -0.30, -0.10 | Pisanski et al. 2014 (meta-analysis): formants explain up to 10 %, F0 under 2 % of height/weight variance within sex |
| age | speaking_rate, jitter, shimmer, breathiness, f0_range_st | | -0.40, +0.40, +0.40, +0.30, -0.30 | speaker age from voice, SLSP 2015: about 9 y mean absolute error, r about 0.75-0.8; these combine to r about 0.66 |
| age | | hairline, lip_thickness, hair_volume | +0.70, -0.60, -0.50 | age is plainly visible in faces (a judgement) |
| size | | jaw_width, head_aspect, nose_width | +0.60, -0.50, +0.40 | BMI is predictable from face shape (Wen & Guo 2013; Wolffhechel et al. 2015); strengths a judgement |

``r`` is the correlation between the trait and the standard-normal latent of the parameter when
the coupling c is 1 (its sign is the direction: older means a higher forehead, a bigger body a
wider jaw and a rounder face). A dataset's coupling c scales every r (`link_strength`); c = 0
leaves only sex shared between voice and face, exactly as before the traits existed. Ancestry is
not modelled: the synthetic voice has no accent or language parameter that could carry it.

Each parameter is still drawn uniform on its per-sex range, as it always was; `couple` bends that
draw through a Gaussian copula, so the marginal of every parameter is the same at any coupling
and only its dependence on the traits changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

_EDGE = 1e-12
"""Uniform values are clipped into (EDGE, 1 - EDGE) before the probit, so range ends stay finite."""

MAX_STRENGTH = 0.95
"""Link strengths are clipped to +-this, so a parameter keeps some freedom of its own at any coupling."""


@dataclass(frozen=True)
class Traits:
    """What an identity's voice and face both reflect."""

    sex: str
    """``"m"`` or ``"f"``: the identity's gender, which already picks each parameter's range."""
    age: float
    """Age as a standard-normal z-score (within the dataset's adult population)."""
    size: float
    """Body size (height and weight) as a standard-normal z-score within sex."""


def sample_traits(rng: np.random.Generator, gender: str) -> Traits:
    """Draw one identity's traits; age and size are independent N(0, 1), whatever the sex."""
    if gender not in ("m", "f"):
        raise ValueError(f"gender must be 'm' or 'f', got {gender!r}")
    age, size = rng.standard_normal(2)
    return Traits(sex=gender, age=float(age), size=float(size))


@dataclass(frozen=True)
class Link:
    """One row of the table: a trait tilts one voice or face parameter."""

    trait: str
    """A `Traits` field: ``"age"`` or ``"size"``."""
    side: str
    """``"voice"`` (a `VoiceProfile` field) or ``"face"`` (a `FaceProfile` field)."""
    parameter: str
    r: float
    """Correlation of the trait with the parameter's standard-normal latent at coupling 1."""
    source: str
    """Where the strength comes from, or that it is a judgement."""


_PISANSKI = "Pisanski et al. 2014, Anim. Behav. 95:89-99 (meta-analysis)"
_AGE_VOICE = "speaker age from voice, ~9 y MAE (SLSP 2015, doi:10.1007/978-3-319-25789-1_11); conservative share"
_AGE_FACE = "judgement: age is plainly visible in faces"
_BMI_FACE = "judgement; BMI from face shape: Wen & Guo 2013 (doi:10.1016/j.imavis.2013.03.001), Wolffhechel et al. 2015 (doi:10.1371/journal.pone.0140347)"

LINKS: tuple[Link, ...] = (
    Link("size", "voice", "formant_scale", -0.30, _PISANSKI + ": formants explain up to 10 % of height/weight variance within sex"),
    Link("size", "voice", "f0_hz", -0.10, _PISANSKI + ": F0 explains under 2 %"),
    Link("age", "voice", "speaking_rate", -0.40, _AGE_VOICE),
    Link("age", "voice", "jitter", 0.40, _AGE_VOICE),
    Link("age", "voice", "shimmer", 0.40, _AGE_VOICE),
    Link("age", "voice", "breathiness", 0.30, _AGE_VOICE),
    Link("age", "voice", "f0_range_st", -0.30, _AGE_VOICE),
    Link("age", "face", "hairline", 0.70, _AGE_FACE + " (higher forehead)"),
    Link("age", "face", "lip_thickness", -0.60, _AGE_FACE),
    Link("age", "face", "hair_volume", -0.50, _AGE_FACE),
    Link("size", "face", "jaw_width", 0.60, _BMI_FACE),
    Link("size", "face", "head_aspect", -0.50, _BMI_FACE + " (wider, rounder face)"),
    Link("size", "face", "nose_width", 0.40, _BMI_FACE),
)
"""The coupling table (see the module docstring). Each parameter appears at most once."""

assert len({(link.side, link.parameter) for link in LINKS}) == len(LINKS), "a parameter may carry one link only"


def link_strength(link: Link, coupling: float) -> float:
    """The correlation actually used for `link` in a dataset of this coupling: c * r, clipped."""
    return float(np.clip(coupling * link.r, -MAX_STRENGTH, MAX_STRENGTH))


def side_links(side: str, traits: Traits | None, coupling: float) -> list[tuple[str, float, float]]:
    """(parameter, trait z, strength) for the links of one side; empty without traits or at c = 0."""
    if traits is None or coupling == 0:
        return []
    return [(link.parameter, getattr(traits, link.trait), link_strength(link, coupling)) for link in LINKS if link.side == side]


def couple(x: float, lo: float, hi: float, z: float, rho: float) -> float:
    """Tilt a uniform draw ``x`` on [lo, hi] towards the trait ``z`` with correlation ``rho``.

    A Gaussian copula: the draw's latent eps = Phi^-1((x - lo) / (hi - lo)) is standard normal and
    independent of z, so latent = rho z + sqrt(1 - rho^2) eps is standard normal too and correlates
    with z at rho; mapping it back through Phi gives a value that is again uniform on [lo, hi].
    rho = 0 returns ``x`` itself, so an uncoupled dataset draws exactly the profiles drawn before traits existed.
    """
    if rho == 0:
        return x
    eps = latent(x, lo, hi)
    mixed = rho * z + math.sqrt(1.0 - rho * rho) * eps
    return float(lo + (hi - lo) * ndtr(mixed))


def latent(x: float, lo: float, hi: float) -> float:
    """The standard-normal latent Phi^-1((x - lo) / (hi - lo)) of a value drawn uniform on [lo, hi]."""
    u = min(max((x - lo) / (hi - lo), _EDGE), 1.0 - _EDGE)
    return float(ndtri(u))
