"""A fast source-filter voice synthesiser: the audio half of the synthetic VoxCeleb stand-in.

Each synthetic speaker is a `VoiceProfile` (pitch, vocal-tract length, rate, voice quality),
some of it tilted towards the identity's age and body size (`synth_traits`), which its face shares.
`render_clip` turns a profile into one "recording": a random babble of syllables spoken
with that voice, then passed through random recording conditions (room, microphone, noise,
level). The speech content and the conditions change from clip to clip, so a model has to
learn the voice, not the clip. The voice is identifiable but not trivially so: speakers of
the same gender overlap in every trait.

The model, in order:

1. Intonation: f0(t) = f0_clip * 2**(s(t) / 12), with s(t) a zero-mean semitone contour
   through one random target per syllable plus a falling declination per phrase.
2. Glottal source: a Rosenberg pulse per cycle of the phase integral of f0 (with per-cycle
   jitter and shimmer), differentiated (glottal flow derivative, which includes the lip
   radiation's +6 dB/octave), plus cycle-gated aspiration noise (breathiness), then a
   one-pole low-pass (spectral tilt).
3. Vocal tract: per syllable, a cascade of Klatt resonators at the vowel's formants times
   the speaker's formant scale, plus a nasal pole-zero pair; consonants are shaped noise
   (fricatives, plosive bursts, /h/) or a voiced nasal murmur. Segments are rendered from
   rest with their filter ring-out and overlap-added.
4. Recording: exponentially decaying noise reverb, a microphone band-pass and tilt,
   additive white/pink noise (and sometimes mains hum) at a random SNR, a random level.

All randomness comes from the `numpy.random.Generator` passed in: the same generator state
gives bit-identical output. Everything is vectorised numpy/scipy; a 6 s clip at 16 kHz
renders in a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve, lfilter, sosfilt

from v2f_bench.data.synth_traits import LINKS, Traits, couple, latent, side_links

VOWEL_FORMANTS: dict[str, tuple[float, float, float]] = {
    "i": (270.0, 2290.0, 3010.0),
    "I": (390.0, 1990.0, 2550.0),
    "E": (530.0, 1840.0, 2480.0),
    "ae": (660.0, 1720.0, 2410.0),
    "a": (730.0, 1090.0, 2440.0),
    "O": (570.0, 840.0, 2410.0),
    "U": (440.0, 1020.0, 2240.0),
    "u": (300.0, 870.0, 2240.0),
    "V": (640.0, 1190.0, 2390.0),
    "3": (490.0, 1350.0, 1690.0),
}
"""F1-F3 (Hz) of American English vowels for an adult male tract (Peterson & Barney, 1952).

A speaker's formants are these times `VoiceProfile.formant_scale`.
"""

HIGHER_FORMANTS = (3500.0, 4500.0)
"""F4 and F5 (Hz) for the reference tract; they shape the timbre above 3 kHz for every vowel."""

FORMANT_BANDWIDTHS = (60.0, 90.0, 120.0, 180.0, 250.0)
"""Reference bandwidths (Hz) of F1-F5, scaled by `VoiceProfile.bandwidth_scale`."""

NASAL_MURMUR = {"m": (250.0, 1100.0, 2200.0), "n": (250.0, 1700.0, 2600.0)}
"""Formants (Hz, reference tract) of the voiced nasal murmur that starts a nasal syllable."""

NOISE_CONSONANTS: dict[str, tuple[float, float, float, float]] = {
    "s": (5500.0, 1800.0, 0.10, -14.0),
    "sh": (2800.0, 1200.0, 0.11, -12.0),
    "f": (4200.0, 3500.0, 0.09, -22.0),
    "t": (4000.0, 2500.0, 0.02, -10.0),
    "k": (2000.0, 1200.0, 0.025, -10.0),
    "p": (900.0, 1500.0, 0.015, -14.0),
}
"""Noise consonants: (centre Hz, bandwidth Hz, duration s, level dB re the vowels' RMS).

Fricatives (s, sh, f) are long hiss; plosives (t, k, p) are short bursts after a closure.
"""

PLOSIVES = frozenset({"t", "k", "p"})
CONSONANTS = (*NOISE_CONSONANTS, "h", "m", "n")
"""Syllable onsets. /h/ is aspiration noise through the following vowel's formants."""


@dataclass(frozen=True)
class VoiceProfile:
    """The stable traits of one synthetic speaker; clips vary around these."""

    gender: str
    """``"m"`` or ``"f"``."""
    f0_hz: float
    """Mean fundamental frequency (Hz), as the geometric mean over a clip. Each clip's mean
    drifts from it by a factor exp(N(0, 0.03)), i.e. about 3 %."""
    f0_range_st: float
    """Intonation range in semitones: the spread (standard deviation is half of it) of the
    per-syllable pitch targets. Larger means a more animated voice."""
    formant_scale: float
    """Vocal-tract length factor: every formant is the reference (adult male) value times
    this, i.e. about L_ref / L for a tract of length L. ~1.0 male, ~1.15-1.2 female."""
    speaking_rate: float
    """Syllables per second while speaking (pauses not counted)."""
    breathiness: float
    """Aspiration noise mixed into the glottal source, as its RMS relative to the voiced
    source's RMS (0 = modal voice, 0.4 = very breathy)."""
    jitter: float
    """Cycle-to-cycle pitch perturbation: each glottal period is scaled by 1 + jitter * N(0, 1)."""
    shimmer: float
    """Cycle-to-cycle amplitude perturbation: each pulse is scaled by 1 + shimmer * N(0, 1)."""
    spectral_tilt: float
    """Coefficient a of the one-pole source low-pass y[n] = (1 - a) x[n] + a y[n-1]. Higher
    a means a softer, darker voice (more roll-off above ~sr (1 - a) / (2 pi) Hz)."""
    bandwidth_scale: float
    """Multiplies the reference formant bandwidths: >1 gives damped, muffled resonances."""
    nasality: float
    """Velum coupling, 0-1: moves a nasal zero away from its pole near 270 Hz (scaled with
    the tract), raising a low nasal resonance and carving an anti-resonance above it."""


_PROFILE_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "m": {
        "f0_hz": (85.0, 155.0),
        "f0_range_st": (2.0, 6.0),
        "formant_scale": (0.92, 1.1),
        "speaking_rate": (3.5, 6.0),
        "breathiness": (0.02, 0.25),
        "jitter": (0.003, 0.015),
        "shimmer": (0.02, 0.08),
        "spectral_tilt": (0.1, 0.6),
        "bandwidth_scale": (0.8, 1.4),
        "nasality": (0.0, 0.6),
    },
    "f": {
        "f0_hz": (165.0, 255.0),
        "f0_range_st": (3.0, 8.0),
        "formant_scale": (1.08, 1.25),
        "speaking_rate": (3.5, 6.0),
        "breathiness": (0.06, 0.4),
        "jitter": (0.003, 0.015),
        "shimmer": (0.02, 0.08),
        "spectral_tilt": (0.2, 0.7),
        "bandwidth_scale": (0.8, 1.4),
        "nasality": (0.0, 0.6),
    },
}
"""Per-gender uniform ranges for each `VoiceProfile` field (f0 after Hillenbrand et al. 1995)."""


def sample_voice_profile(
    rng: np.random.Generator, gender: str, traits: Traits | None = None, coupling: float = 0.0
) -> VoiceProfile:
    """Draw one speaker of `gender` (``"m"`` or ``"f"``), each parameter uniform in its range.

    With `traits`, the parameters in `synth_traits.LINKS` are tilted towards the speaker's age and
    size at that `coupling` (their marginals stay uniform). The generator is used the same way
    either way, so no traits or coupling 0 gives the very profile drawn before traits existed.
    """
    if gender not in _PROFILE_RANGES:
        raise ValueError(f"gender must be 'm' or 'f', got {gender!r}")
    ranges = _PROFILE_RANGES[gender]
    values = {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in ranges.items()}
    for name, z, rho in side_links("voice", traits, coupling):
        values[name] = couple(values[name], *ranges[name], z, rho)
    return VoiceProfile(gender=gender, **values)


def voice_latents(profile: VoiceProfile) -> dict[str, float]:
    """The standard-normal latents of `profile`'s trait-linked parameters (parameter -> latent).

    The inverse of the draw in `sample_voice_profile`: each value's position in its per-gender
    range, probited. At coupling c a latent correlates with its trait at `synth_traits.link_strength`.
    """
    ranges = _PROFILE_RANGES[profile.gender]
    return {link.parameter: latent(getattr(profile, link.parameter), *ranges[link.parameter]) for link in LINKS if link.side == "voice"}


@dataclass(frozen=True)
class _Segment:
    """One stretch of sound to render: an excitation through a filter, placed at `start`."""

    start: int
    stop: int
    voiced: bool
    """Excited by the glottal source (vowels, nasals) or by fresh white noise (consonants)."""
    sos: np.ndarray
    level_db: float
    """Voiced: gain in dB (syllable stress). Noise: output RMS in dB re the vowels' RMS."""


def render_clip(
    profile: VoiceProfile,
    rng: np.random.Generator,
    duration_s: float,
    sample_rate: int = 16000,
) -> np.ndarray:
    """One recording of `profile` speaking random syllables: float32 mono, peak <= 0.99.

    The output has round(duration_s * sample_rate) samples. Speech content, per-clip
    pitch/rate drift and the recording conditions are all drawn from `rng`.
    """
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000 Hz, got {sample_rate}")
    n = round(duration_s * sample_rate)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    f0_clip = profile.f0_hz * float(np.exp(rng.normal(0.0, 0.03)))
    rate = profile.speaking_rate * float(rng.uniform(0.9, 1.1))
    segments, knots = _plan_utterance(profile, rng, rate, n, sample_rate)
    f0 = _intonation(f0_clip, knots, n, rng, sample_rate)
    source = _glottal_source(profile, f0, rng, sample_rate)
    speech = _articulate(segments, source, rng, n, sample_rate)
    return _record(speech, rng, sample_rate)


def _plan_utterance(
    profile: VoiceProfile, rng: np.random.Generator, rate: float, n: int, sr: int
) -> tuple[list[_Segment], list[tuple[int, float]]]:
    """Lay out phrases of 3-9 syllables separated by 0.15-0.6 s pauses until `n` samples.

    Returns the segments and the intonation knots (sample, semitones): one pitch target per
    syllable, N(0, range / 2), plus a declination falling by ~range / 3 over each phrase.
    """
    segments: list[_Segment] = []
    knots: list[tuple[int, float]] = []
    t = float(rng.uniform(0.05, 0.3))
    while t * sr < n:
        count = int(rng.integers(3, 10))
        fall = profile.f0_range_st / 3.0 * float(rng.uniform(0.5, 1.5))
        for k in range(count):
            syllable_s = float(rng.uniform(0.75, 1.25)) / rate
            nucleus = _add_syllable(profile, rng, segments, t, syllable_s, sr)
            target = rng.normal(0.0, profile.f0_range_st / 2.0) + fall * (0.5 - k / max(count - 1, 1))
            knots.append((nucleus, float(target)))
            t += syllable_s
        t += float(rng.uniform(0.15, 0.6))
    return segments, knots


def _add_syllable(
    profile: VoiceProfile, rng: np.random.Generator, out: list[_Segment], t: float, dur: float, sr: int
) -> int:
    """Append an optional onset consonant and a vowel spanning [t, t + dur) s.

    Returns the vowel's centre sample, where the syllable's pitch target sits.
    """
    vowel = VOWEL_FORMANTS[str(rng.choice(list(VOWEL_FORMANTS)))]
    vowel_sos = _tract_sos(vowel, profile, sr)
    stress_db = float(rng.normal(0.0, 2.0))
    onset = str(rng.choice(CONSONANTS)) if rng.random() < 0.75 else ""
    begin = round(t * sr)
    vowel_start = begin + _onset(profile, onset, vowel_sos, begin, dur, out, sr)
    stop = round((t + dur) * sr)
    out.append(_Segment(vowel_start, stop, True, vowel_sos, stress_db))
    return (vowel_start + stop) // 2


def _onset(
    profile: VoiceProfile,
    consonant: str,
    vowel_sos: np.ndarray,
    begin: int,
    dur: float,
    out: list[_Segment],
    sr: int,
) -> int:
    """Append the onset consonant's segment starting at `begin`; return its length in samples.

    Plosives are a silent closure (up to 40 ms) then the burst. Onsets are capped so the
    vowel keeps at least 40 % of the syllable.
    """
    if not consonant:
        return 0
    if consonant in NASAL_MURMUR:
        length = round(min(0.07, 0.4 * dur) * sr)
        murmur = _tract_sos(NASAL_MURMUR[consonant], profile, sr)
        out.append(_Segment(begin, begin + length, True, murmur, -8.0))
        return length
    if consonant == "h":
        length = round(min(0.06, 0.4 * dur) * sr)
        out.append(_Segment(begin, begin + length, False, vowel_sos, -18.0))
        return length
    centre, bandwidth, seconds, level = NOISE_CONSONANTS[consonant]
    closure = round(min(0.04, 0.2 * dur) * sr) if consonant in PLOSIVES else 0
    length = round(min(seconds, 0.4 * dur) * sr)
    sos = _noise_sos(centre * profile.formant_scale, bandwidth, sr)
    out.append(_Segment(begin + closure, begin + closure + length, False, sos, level))
    return closure + length


def _resonator(freq: np.ndarray, bw: np.ndarray, sr: int) -> np.ndarray:
    """Klatt resonators as SOS rows, unit gain at DC.

    Poles at r exp(+-j 2 pi F / sr) with r = exp(-pi B / sr);
    H(z) = (1 - 2 r cos(theta) + r^2) / (1 - 2 r cos(theta) z^-1 + r^2 z^-2).
    """
    r = np.exp(-np.pi * bw / sr)
    c = -2.0 * r * np.cos(2.0 * np.pi * freq / sr)
    sos = np.zeros((len(freq), 6))
    sos[:, 0] = 1.0 + c + r * r
    sos[:, 3] = 1.0
    sos[:, 4] = c
    sos[:, 5] = r * r
    return sos


def _nasal_section(profile: VoiceProfile, sr: int) -> np.ndarray:
    """A pole pair at Fp = 270 Hz * scale and a zero pair at Fp (1 + 2 nasality), both unit DC gain.

    At nasality 0 they cancel; more nasality separates them into a low resonance and an
    anti-resonance, the spectral signature of an open velum.
    """
    fp = 270.0 * profile.formant_scale
    pole = _resonator(np.array([fp]), np.array([100.0]), sr)[0]
    zero = _resonator(np.array([fp * (1.0 + 2.0 * profile.nasality)]), np.array([100.0]), sr)[0]
    return np.concatenate([zero[3:] * pole[0] / zero[0], pole[3:]])[None, :]


def _tract_sos(formants: tuple[float, ...], profile: VoiceProfile, sr: int) -> np.ndarray:
    """The vocal tract: the sound's F1-F3 and F4-F5, all times `formant_scale`, then the nasal section.

    Formants at or above 0.45 sr are dropped (they would fold over or sit on Nyquist).
    """
    freq = np.array([*formants, *HIGHER_FORMANTS]) * profile.formant_scale
    bw = np.array(FORMANT_BANDWIDTHS) * profile.bandwidth_scale
    keep = freq < 0.45 * sr
    return np.vstack([_resonator(freq[keep], bw[keep], sr), _nasal_section(profile, sr)])


def _noise_sos(centre: float, bandwidth: float, sr: int) -> np.ndarray:
    """A consonant's noise shaper: two Klatt resonators at `centre` (clamped below Nyquist) and a
    differentiator 1 - z^-1 that removes the resonators' low-frequency floor."""
    centre = min(centre, 0.42 * sr)
    res = _resonator(np.array([centre, centre * 1.15]), np.array([bandwidth, bandwidth]), sr)
    return np.vstack([res, [1.0, -1.0, 0.0, 1.0, 0.0, 0.0]])


def _intonation(
    f0_clip: float, knots: list[tuple[int, float]], n: int, rng: np.random.Generator, sr: int
) -> np.ndarray:
    """f0 per sample: f0_clip * 2**(s / 12), s interpolated between the knots.

    s is made zero-mean over time, so f0_clip is the clip's geometric-mean pitch. A slow
    random wobble (0.1 semitone standard deviation, a knot every 0.1 s) is added so held
    vowels are not perfectly flat.
    """
    knots = knots or [(0, 0.0)]
    where = np.array([k[0] for k in knots], dtype=float)
    s = np.interp(np.arange(n, dtype=float), where, np.array([k[1] for k in knots]))
    s -= s.mean()
    step = round(0.1 * sr)
    wobble_knots = np.arange(0, n + step, step, dtype=float)
    s += np.interp(np.arange(n, dtype=float), wobble_knots, rng.normal(0.0, 0.1, len(wobble_knots)))
    return f0_clip * np.exp2(s / 12.0)


def _glottal_source(profile: VoiceProfile, f0: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Glottal flow derivative with jitter, shimmer, aspiration and tilt, normalised to unit RMS.

    The phase is cumsum(f0 * (1 + jitter e_k) / sr), e_k ~ N(0, 1) per cycle k. Within a
    cycle (phase fraction p) the Rosenberg flow is 0.5 (1 - cos(pi p / 0.4)) for p < 0.4,
    cos(pi/2 (p - 0.4) / 0.16) for p < 0.56, and closed (0) after. Aspiration is white
    noise gated to the open phase (full there, 0.3 when closed).
    """
    cycles0 = np.floor(np.cumsum(f0) / sr).astype(np.int64)
    period_scale = 1.0 + profile.jitter * rng.standard_normal(int(cycles0[-1]) + 2)
    phase = np.cumsum(f0 * period_scale[cycles0]) / sr
    cycle = np.floor(phase).astype(np.int64)
    frac = phase - cycle
    flow = np.where(frac < 0.4, 0.5 - 0.5 * np.cos(np.pi * frac / 0.4), 0.0)
    closing = (frac >= 0.4) & (frac < 0.56)
    flow[closing] = np.cos(0.5 * np.pi * (frac[closing] - 0.4) / 0.16)
    amplitude = 1.0 + profile.shimmer * rng.standard_normal(int(cycle[-1]) + 2)
    flow *= amplitude[cycle]
    voiced = np.diff(flow, prepend=0.0)
    voiced /= np.sqrt(np.mean(voiced**2)) + 1e-12
    gate = np.where(frac < 0.56, 1.0, 0.3)
    noise = rng.standard_normal(len(f0)) * gate
    noise *= profile.breathiness / (np.sqrt(np.mean(noise**2)) + 1e-12)
    a = profile.spectral_tilt
    source = lfilter([1.0 - a], [1.0, -a], voiced + noise)
    return source / (np.sqrt(np.mean(source**2)) + 1e-12)


def _envelope(length: int, sr: int) -> np.ndarray:
    """Raised-cosine fade in and out over min(12 ms, length / 3) to avoid clicks."""
    ramp = max(1, min(round(0.012 * sr), length // 3))
    env = np.ones(length)
    fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    env[:ramp] = fade
    env[length - ramp :] = np.minimum(env[length - ramp :], fade[::-1])
    return env


def _articulate(
    segments: list[_Segment], source: np.ndarray, rng: np.random.Generator, n: int, sr: int
) -> np.ndarray:
    """Filter each segment's excitation from rest, keep a 30 ms ring-out, and overlap-add.

    Voiced segments come first; their RMS sets the reference for the noise consonants'
    levels (level_db re that RMS, measured on the filtered noise itself).
    """
    tail = round(0.03 * sr)
    out = np.zeros(n + tail)
    for seg in (s for s in segments if s.voiced and s.start < n):
        excitation = source[seg.start : min(seg.stop, n)] * _envelope(min(seg.stop, n) - seg.start, sr)
        y = sosfilt(seg.sos, np.concatenate([excitation, np.zeros(tail)]))
        out[seg.start : seg.start + len(y)] += y * 10.0 ** (seg.level_db / 20.0)
    active = out[np.abs(out) > 1e-3 * (np.max(np.abs(out)) + 1e-12)]
    reference = np.sqrt(np.mean(active**2)) if len(active) else 1.0
    for seg in (s for s in segments if not s.voiced and s.start < n):
        stop = min(seg.stop, n)
        excitation = rng.standard_normal(stop - seg.start) * _envelope(stop - seg.start, sr)
        y = sosfilt(seg.sos, np.concatenate([excitation, np.zeros(tail)]))
        y *= reference * 10.0 ** (seg.level_db / 20.0) / (np.sqrt(np.mean(y**2)) + 1e-12)
        out[seg.start : seg.start + len(y)] += y
    return out[:n]


def _record(speech: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Apply one random recording chain: room, microphone, noise, level; cap the peak at 0.99."""
    x = _reverberate(speech, rng, sr)
    x = _microphone(x, rng, sr)
    x = x + _background_noise(x, rng, sr)
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    x *= 10.0 ** (rng.uniform(-32.0, -14.0) / 20.0) / rms
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32)


def _reverberate(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Convolve with h = delta + g * w[n] 10**(-3 n / (RT60 sr)), w white noise.

    The tail decays 60 dB over RT60 ~ U(0.1, 0.6) s; g sets a direct-to-reverberant energy
    ratio ~ U(-2, 12) dB, so rooms range from dry booths to echoey halls.
    """
    rt60 = float(rng.uniform(0.1, 0.6))
    drr_db = float(rng.uniform(-2.0, 12.0))
    length = max(2, round(rt60 * sr))
    tail = rng.standard_normal(length) * 10.0 ** (-3.0 * np.arange(length) / length)
    tail[0] = 0.0
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / np.sum(tail**2))
    tail[0] = 1.0
    return fftconvolve(x, tail)[: len(x)]


def _microphone(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """A gentle band-pass and tilt: one-pole high-pass (30-250 Hz), one-pole low-pass
    (3-7 kHz, below 0.45 sr) and a pole/zero tilt H(z) = (1 - z0 z^-1) / (1 - p0 z^-1).

    The one-pole sections are (1 + c)/2 (1 - z^-1) / (1 - c z^-1) and (1 - c) / (1 - c z^-1)
    with c = exp(-2 pi fc / sr); z0, p0 ~ U(0, 0.6), so z0 > p0 brightens and p0 > z0 darkens.
    """
    hp = np.exp(-2.0 * np.pi * rng.uniform(30.0, 250.0) / sr)
    lp = np.exp(-2.0 * np.pi * min(rng.uniform(3000.0, 7000.0), 0.45 * sr) / sr)
    z0, p0 = rng.uniform(0.0, 0.6, size=2)
    b = np.convolve(np.convolve([0.5 * (1 + hp), -0.5 * (1 + hp)], [1.0 - lp]), [1.0, -z0])
    a = np.convolve(np.convolve([1.0, -hp], [1.0, -lp]), [1.0, -p0])
    return lfilter(b, a, x)


def _background_noise(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """White or pink noise, plus mains hum in a third of clips, at SNR ~ U(5, 30) dB re the clip's power.

    Pink noise is white noise through Paul Kellet's 3-pole 1/f approximation; hum is
    50 or 60 Hz with harmonics 1-5 at amplitude 1/k, taking 0-60 % of the noise power.
    """
    n = len(x)
    noise = rng.standard_normal(n)
    if rng.random() < 0.5:
        noise = lfilter(
            [0.049922035, -0.095993537, 0.050612699, -0.004408786],
            [1.0, -2.494956002, 2.017265875, -0.522189400],
            noise,
        )
    noise /= np.sqrt(np.mean(noise**2)) + 1e-12
    if rng.random() < 1.0 / 3.0:
        hum_share = float(rng.uniform(0.1, 0.6))
        noise = np.sqrt(1.0 - hum_share) * noise + np.sqrt(hum_share) * _hum(n, rng, sr)
    power = np.mean(x**2)
    snr_db = float(rng.uniform(5.0, 30.0))
    return noise * np.sqrt(power / 10.0 ** (snr_db / 10.0))


def _hum(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Unit-RMS mains hum: sum over k = 1..5 of (1/k) sin(2 pi k f_mains t + phi_k).

    The waveform is periodic, so one cycle is tabulated (256 points) and read out at the
    phase f_mains t mod 1 by periodic linear interpolation, far cheaper than n * 5 sines.
    """
    mains = 50.0 if rng.random() < 0.5 else 60.0
    grid = np.arange(256) / 256
    k = np.arange(1, 6)[:, None]
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(5, 1))
    cycle = np.sum(np.sin(2.0 * np.pi * k * grid + phases) / k, axis=0)
    hum = np.interp(mains * np.arange(n) / sr, grid, cycle, period=1.0)
    return hum / (np.sqrt(np.mean(hum**2)) + 1e-12)
