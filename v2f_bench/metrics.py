"""Evaluation metrics: image fidelity (the paper's Table II) and identity (Table I and peers).

Every function is pure: torch tensors (or numpy arrays, converted) in, python floats or small
dicts out. Each docstring states the formula, the scale it works on and how it averages.
Image metrics are computed per image and then averaged over the batch ("per image then mean"),
which is what the published numbers imply (see REFERENCE section 1: PSNR - SNR = 10.42 dB in
every row, and MSE 0.011 cannot give PSNR 28.3 unless PSNR is a mean of per-image values).

The direction of every metric is declared once, in `METRICS`; aggregation and hyperparameter
search read `Metric.higher_is_better` / `Metric.mode` from there instead of guessing.

Image inputs: float tensors of shape (N, 3, H, W) (a single (3, H, W) image is accepted) with
values in [0, 1]; a generator with a tanh output must be mapped to [0, 1] by the caller.
Embedding inputs: float tensors (N, D); identity metrics use cosine similarity, so they do not
require L2-normalised rows (the paper's verification distance does assume them).

Image metric precision and speed: a batch is evaluated in chunks of whole images (sized to
stay in cache) with no per-image Python loop. The pixel-wise metrics (MAE, MSE, SNR, PSNR) are
computed in float64 and agree with scikit-image to rounding (1e-12). On CPU the two filtered
metrics (SSIM, PAMSE) run their Gaussian filters and maps in float32 and accumulate each
image's mean in float64; float64 convolutions made the batch 5x slower than a per-image
scikit-image loop. They stay within `SSIM_TOLERANCE` (1e-5 absolute) of scikit-image's float64
SSIM and `PAMSE_RELATIVE_TOLERANCE` (1e-5 relative) of a float64 PAMSE. Measured: SSIM within
1e-7 on random, smooth, structured and face-like images, 1.4e-6 at worst on a flat half-black
half-white image with 1e-3 noise; PAMSE within 1e-8, 1e-6 for a +-e checkerboard error that
the filter almost cancels. On other devices the filters run in float64 (cuDNN may use TF32 for
float32 convolutions).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0
"""PSNR and SNR are clamped to [-100, 100] dB, so identical images give 100 dB, not inf."""

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
"""11x11 Gaussian window: skimage's radius int(3.5 * 1.5 + 0.5) = 5 with gaussian_weights=True."""
SSIM_K1, SSIM_K2 = 0.01, 0.03

PAMSE_SIGMA = 0.8
PAMSE_RADIUS = 3
"""7x7 window: 2 * ceil(3 * 0.8) + 1, as in Xue et al.'s reference code."""

TABLE_II = ("mae", "mse", "snr", "psnr", "pamse", "ssim")
"""The image metrics, in the order `image_quality` returns them."""

SSIM_TOLERANCE = 1e-5
"""Bound on |SSIM - scikit-image's float64 SSIM| from the float32 maps (measured <= 1.4e-6)."""
PAMSE_RELATIVE_TOLERANCE = 1e-5
"""Bound on the relative PAMSE difference from float64 filtering (measured <= 1e-6)."""

_CPU_CHUNK_ELEMENTS = 2**19
"""Most values per map in one chunk on CPU (42 images of 3x64x64): a chunk's intermediates stay
in cache, several times faster than one pass over a batch of hundreds of images."""
_DEVICE_CHUNK_ELEMENTS = 2**24
"""On an accelerator chunks only bound memory."""

_RANGE_TOLERANCE = 1e-4
_EPS = 1e-12


# --------------------------------------------------------------------------- conversion


def _as_tensor(x) -> torch.Tensor:
    """A float64 CPU-or-same-device tensor from a tensor or array-like."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def _image_tensor(x) -> torch.Tensor:
    """A float32 or float64 tensor, not copied when it already is one (other dtypes: float64)."""
    x = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float64)


def _image_pair(generated, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two image batches: (N, C, H, W) float tensors in [0, 1] on one device."""
    g, t = _image_tensor(generated), _image_tensor(target)
    if g.ndim == 3:
        g, t = g.unsqueeze(0), t.unsqueeze(0)
    if g.ndim != 4 or g.shape != t.shape:
        raise ValueError(
            f"images must be two (N, C, H, W) batches of one shape, got {tuple(g.shape)} "
            f"and {tuple(t.shape)}"
        )
    t = t.to(g.device)
    for name, x in (("generated", g), ("target", t)):
        low, high = (float(v) for v in x.aminmax())
        if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
            raise ValueError(
                f"{name} images must lie in [0, 1], found values in [{low:.4g}, {high:.4g}]"
            )
    return g, t


def _per_image_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over every axis but the first, accumulated in float64: one value per image."""
    return x.flatten(1).mean(dim=1, dtype=torch.float64)


# --------------------------------------------------------------------------- image metrics


def _psnr_from_mse(mse_i: torch.Tensor) -> torch.Tensor:
    floor = 10.0 ** (-PSNR_CAP_DB / 10.0)
    return -10.0 * torch.log10(mse_i.clamp(min=floor))


def _snr_from_mse(t: torch.Tensor, mse_i: torch.Tensor) -> torch.Tensor:
    """10 log10(mean t^2 / MSE_i) per image (the ratio of sums), capped; 100 dB when MSE_i = 0."""
    signal = _per_image_mean(t * t)
    snr_db = 10.0 * (torch.log10(signal) - torch.log10(mse_i))
    snr_db = torch.where(mse_i > 0, snr_db, torch.full_like(snr_db, PSNR_CAP_DB))
    return snr_db.clamp(-PSNR_CAP_DB, PSNR_CAP_DB)


def _gaussian_1d(radius: int, sigma: float, dtype, device) -> torch.Tensor:
    """Normalised 1-D Gaussian taps exp(-x^2 / (2 sigma^2)), x = -radius..radius."""
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    taps = torch.exp(-(x**2) / (2.0 * sigma**2))
    return taps / taps.sum()


@lru_cache(maxsize=64)
def _depthwise_taps(radius: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`_gaussian_1d` normalised in float64 and rounded to `dtype` once, shape (1, 1, 2 radius + 1)."""
    return _gaussian_1d(radius, sigma, torch.float64, device).to(dtype).view(1, 1, -1)


def _gaussian_filter_valid(x: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    """Separable normalised Gaussian filter over the last two axes, 'valid' output (no padding).

    (..., H, W) -> (..., H - 2 radius, W - 2 radius). Every plane becomes one channel of a
    single depthwise convolution per axis ((k, 1) then (1, k) kernels, groups = planes): the
    form oneDNN runs fastest in float32 on CPU (measured several times faster than float64,
    than images as the batch axis with groups = C, and than banded matrix products).
    """
    *lead, height, width = x.shape
    planes = x.reshape(1, -1, height, width)
    n = planes.shape[1]
    taps = _depthwise_taps(radius, sigma, x.dtype, x.device)
    rows = F.conv2d(planes, taps.view(1, 1, -1, 1).expand(n, 1, -1, 1), groups=n)
    both = F.conv2d(rows, taps.view(1, 1, 1, -1).expand(n, 1, 1, -1), groups=n)
    return both.view(*lead, height - 2 * radius, width - 2 * radius)


def _require_size(x: torch.Tensor, radius: int, metric: str) -> None:
    side = 2 * radius + 1
    if x.shape[-1] < side or x.shape[-2] < side:
        raise ValueError(f"{metric} needs images of at least {side}x{side}, got {tuple(x.shape)}")


def _filter_dtype(device: torch.device) -> torch.dtype:
    """float32 on CPU (fast, full precision); float64 elsewhere, where cuDNN may use TF32 for float32."""
    return torch.float32 if device.type == "cpu" else torch.float64


def _pamse_per_image(error: torch.Tensor) -> torch.Tensor:
    """mean (G * 255 error)^2 per image, computed as 255^2 mean (G * error)^2."""
    error = error.to(_filter_dtype(error.device))
    smoothed = _gaussian_filter_valid(error, PAMSE_RADIUS, PAMSE_SIGMA)
    return 255.0**2 * _per_image_mean(smoothed.square_())


def _centred_maps(g: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The four maps SSIM filters, stacked (4, n, C, H, W) in the filter dtype, and the shift s.

    With x = g - s and y = t - s, s the per-channel mean of both images: x, y, x^2 + y^2, x y.
    Shifting leaves variances and covariance unchanged and keeps E[x^2] - mu^2 from losing
    float32 digits to cancellation on flat bright regions; s is added back to the means.
    """
    dtype = _filter_dtype(g.device)
    shift = 0.5 * (g.mean(dim=(-2, -1), keepdim=True) + t.mean(dim=(-2, -1), keepdim=True))
    maps = torch.empty((4, *g.shape), dtype=dtype, device=g.device)
    x, y, squares, product = maps.unbind()
    torch.sub(g, shift, out=x)
    torch.sub(t, shift, out=y)
    torch.mul(x, x, out=squares).addcmul_(y, y)
    torch.mul(x, y, out=product)
    return maps, shift.to(dtype)


def _ssim_per_image(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean SSIM map per image; on CPU the map is computed in float32, its mean in float64.

    Four filtered maps suffice (`_centred_maps`): the denominator needs only
    var_g + var_t = G*(x^2 + y^2) - mu_x^2 - mu_y^2, and cov = G*(x y) - mu_x mu_y. The luminance
    denominator is taken as 2 mu_g mu_t + C1 + (mu_g - mu_t)^2, which equals
    mu_g^2 + mu_t^2 + C1. For g = t numerator and denominator round identically: exactly 1.
    """
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    maps, shift = _centred_maps(g, t)
    mu_g, mu_t, squares, product = _gaussian_filter_valid(maps, SSIM_RADIUS, SSIM_SIGMA).unbind()
    mean_gap = (mu_g - mu_t).square_()
    var_sum = squares.sub_(mu_g.square().add_(mu_t.square()))
    cov2 = product.sub_(mu_g * mu_t).mul_(2)
    luminance = (mu_g.add_(shift) * mu_t.add_(shift)).mul_(2).add_(c1)
    denominator = (luminance + mean_gap).mul_(var_sum.add_(c2))
    return _per_image_mean(luminance.mul_(cov2.add_(c2)).div_(denominator))


def _chunk_values(g: torch.Tensor, t: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Per-image float64 values, shape (n,), of the named Table II metrics for one chunk."""
    t64 = t.to(torch.float64)
    error = g.to(torch.float64) - t64
    mse_i = _per_image_mean(error * error)
    compute = {
        "mae": lambda: _per_image_mean(error.abs()),
        "mse": lambda: mse_i,
        "snr": lambda: _snr_from_mse(t64, mse_i),
        "psnr": lambda: _psnr_from_mse(mse_i),
        "pamse": lambda: _pamse_per_image(error),
        "ssim": lambda: _ssim_per_image(g, t),
    }
    return {name: compute[name]() for name in names}


def _chunks(g: torch.Tensor, t: torch.Tensor):
    """(generated, target) chunks of whole images, equal in size, of at most `_CPU_CHUNK_ELEMENTS`
    values each on CPU (or one image when an image is larger)."""
    budget = _CPU_CHUNK_ELEMENTS if g.device.type == "cpu" else _DEVICE_CHUNK_ELEMENTS
    count = min(len(g), math.ceil(g.numel() / budget))
    return zip(g.tensor_split(count), t.tensor_split(count))


class ImageQuality:
    """Table II metrics as an accumulator (torchmetrics' ``update`` / ``compute`` shape): each ``update`` scores a batch of
    (generated, target) pairs and adds its per-image float64 values to running sums, so a split of any size is measured
    in the memory of one batch. ``compute`` gives mean_i of each metric over every image seen, the per-image-then-mean
    averaging of the single functions (which are this accumulator over one batch): batches change only the order of
    the float64 summation."""

    def __init__(self, names: Sequence[str] = TABLE_II):
        self.names = tuple(names)
        self.sums = {name: torch.zeros((), dtype=torch.float64) for name in self.names}
        self.count = 0

    def update(self, generated, target) -> ImageQuality:
        g, t = _image_pair(generated, target)
        if "pamse" in self.names:
            _require_size(g, PAMSE_RADIUS, "pamse")
        if "ssim" in self.names:
            _require_size(g, SSIM_RADIUS, "ssim")
        for gc, tc in _chunks(g, t):
            for name, values in _chunk_values(gc, tc, self.names).items():
                self.sums[name] += values.sum().cpu()
        self.count += len(g)
        return self

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no image was scored: call update with at least one pair")
        return {name: float(self.sums[name] / self.count) for name in self.names}


def _image_metrics(generated, target, names: Sequence[str]) -> dict[str, float]:
    """Validate, evaluate the named metrics chunk by chunk, and average per image values."""
    return ImageQuality(names).update(generated, target).compute()


def mae(generated, target) -> float:
    """Mean absolute error on the [0, 1] scale, in float64.

    MAE_i = mean_{c,x,y} |g - t|; result = mean_i MAE_i (per image then mean). Lower is better.
    """
    return _image_metrics(generated, target, ("mae",))["mae"]


def mse(generated, target) -> float:
    """Mean squared error on the [0, 1] scale, in float64.

    MSE_i = mean_{c,x,y} (g - t)^2; result = mean_i MSE_i (per image then mean). Lower is better.
    """
    return _image_metrics(generated, target, ("mse",))["mse"]


def snr(generated, target) -> float:
    """Signal-to-noise ratio in dB, the target being the signal (scale-free), in float64.

    SNR_i = 10 log10( sum t^2 / sum (g - t)^2 ); result = mean_i SNR_i (per image then mean).
    Clamped to [-100, 100] dB; a perfect reconstruction gives 100 dB. Higher is better.
    For a target whose mean square is m, PSNR_i - SNR_i = -10 log10(m) (10.42 dB in the paper).
    """
    return _image_metrics(generated, target, ("snr",))["snr"]


def psnr(generated, target) -> float:
    """Peak signal-to-noise ratio in dB on the [0, 1] scale (peak 1), in float64.

    PSNR_i = 10 log10( 1 / MSE_i ); result = mean_i PSNR_i (the mean of per-image PSNRs, not
    the PSNR of the mean MSE). MSE_i = 0 is capped at 100 dB. Higher is better.
    """
    return _image_metrics(generated, target, ("psnr",))["psnr"]


def pamse(generated, target) -> float:
    """Perceptual-fidelity aware MSE (Xue, Zhang, Mou, ICCV 2013) on the 0-255 scale.

    E = 255 (g - t); PAMSE_i = mean_{c,x,y} (G * E)^2 where G is a normalised 7x7 Gaussian
    (sigma 0.8) applied to each channel separately with 'valid' padding (as conv2(..., 'valid')
    in the reference code), so the mean runs over the (H - 6) x (W - 6) interior.
    Result = mean_i PAMSE_i (per image then mean). Lower is better. On CPU the filter runs in
    float32 (the means in float64): within `PAMSE_RELATIVE_TOLERANCE` (1e-5) of float64.
    """
    return _image_metrics(generated, target, ("pamse",))["pamse"]


def ssim(generated, target) -> float:
    """Structural similarity (Wang et al. 2004), data range 1, in [-1, 1].

    Local statistics use an 11x11 Gaussian window (sigma 1.5) and population (co)variances:
    SSIM = (2 mu_g mu_t + C1)(2 cov + C2) / ((mu_g^2 + mu_t^2 + C1)(var_g + var_t + C2)),
    C1 = 0.01^2, C2 = 0.03^2. The map is averaged over the interior (a 5-pixel border is
    dropped, as skimage crops (win - 1) / 2) and over channels, giving SSIM_i; result =
    mean_i SSIM_i. Matches skimage.metrics.structural_similarity(channel_axis=-1,
    data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False) within
    `SSIM_TOLERANCE` (1e-5 absolute): on CPU the map is computed in float32, its means in
    float64. Identical images give exactly 1. Higher is better.
    """
    return _image_metrics(generated, target, ("ssim",))["ssim"]


def image_quality(generated, target) -> dict[str, float]:
    """All six Table II metrics in one pass: {"mae", "mse", "snr", "psnr", "pamse", "ssim"}.

    Same definitions, scales, precision and per-image-then-mean averaging as the single
    functions (and bit-identical values: the same code runs on the same chunks).
    """
    return _image_metrics(generated, target, TABLE_II)


# --------------------------------------------------------------------------- identity metrics

Distance = Literal["l2", "sq_l2"]


def _embeddings(x, name: str) -> torch.Tensor:
    e = _as_tensor(x)
    if e.ndim != 2:
        raise ValueError(f"{name} must be an (N, D) embedding matrix, got shape {tuple(e.shape)}")
    return e


def pair_distance(a, b, kind: Distance = "l2") -> torch.Tensor:
    """Row-wise distance between two (N, D) embedding matrices, shape (N,).

    "l2": ||a_i - b_i||_2 (the paper's text); "sq_l2": ||a_i - b_i||_2^2 (the authors' code).
    For unit vectors sq_l2 = 2 - 2 cos, in [0, 4].
    """
    a = _embeddings(a, "a")
    b = _embeddings(b, "b").to(a.device)
    if a.shape != b.shape:
        raise ValueError(f"embedding shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    squared = ((a - b) ** 2).sum(dim=1)
    if kind == "sq_l2":
        return squared
    if kind == "l2":
        return squared.sqrt()
    raise ValueError(f"unknown distance kind {kind!r}; use 'l2' or 'sq_l2'")


def verification_accuracy(gen_emb, target_emb, tau: float, distance: Distance = "sq_l2") -> float:
    """Table I accuracy: the fraction of generated faces judged to be their own identity.

    Row i pairs a generated face with the target face of the voice's identity;
    accuracy = mean_i [ d(gen_i, target_i) < tau ], in [0, 1]: strictly below tau, the same rule
    ``threshold_curve`` calibrates tau for (and the authors' code used). `distance` is "sq_l2" (the
    authors' code, default) or "l2" (the paper's text); tau must be calibrated for the same one.
    Higher is better.
    """
    d = pair_distance(gen_emb, target_emb, kind=distance)
    return float((d < tau).to(torch.float64).mean())


def _label_array(labels, name: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _unit_rows(e: torch.Tensor) -> torch.Tensor:
    return e / e.norm(dim=1, keepdim=True).clamp(min=_EPS)


def class_means(gallery_emb, gallery_labels) -> tuple[np.ndarray, torch.Tensor]:
    """Per-identity mean real embedding: (classes, (C, D) unit-normalised means).

    mean_k = normalise( sum_{j: label_j = k} normalise(gallery_j) ): the mean direction of the
    identity's real faces. Normalising rows first stops a large-norm image from dominating;
    for L2-normalised inputs it changes nothing. Classes are sorted as np.unique sorts them.
    """
    emb = _unit_rows(_embeddings(gallery_emb, "gallery_emb"))
    labels = _label_array(gallery_labels, "gallery_labels")
    if len(labels) != emb.shape[0]:
        raise ValueError(f"{len(labels)} gallery labels for {emb.shape[0]} gallery embeddings")
    classes, index = np.unique(labels, return_inverse=True)
    index_t = torch.as_tensor(index, device=emb.device)
    sums = torch.zeros(len(classes), emb.shape[1], dtype=emb.dtype, device=emb.device)
    sums.index_add_(0, index_t, emb)
    return classes, _unit_rows(sums)


QUERY_CELLS = 2**20
"""Scores the identity metrics hold at a time: they take the generated faces in chunks of max(1, QUERY_CELLS // C) rows
(``_class_scores``), so a (chunk, C) block of cosines, never the (N, C) matrix, whatever the numbers of faces and identities."""


def _class_scores(gen_emb, labels, gallery_emb, gallery_labels):
    """The identity metrics' one pass: (rows, (m, C) cosines to the class means, the true class index of each row, C) for
    consecutive chunks of the generated faces (``QUERY_CELLS``), the class means computed once. Every metric built on it
    is a mean over faces, so the chunks give the values of one pass (up to the rounding of a chunk's matrix product)."""
    gen = _embeddings(gen_emb, "gen_emb")
    classes, means = class_means(gallery_emb, gallery_labels)
    labels = _label_array(labels, "labels")
    if len(labels) != gen.shape[0]:
        raise ValueError(f"{len(labels)} labels for {gen.shape[0]} generated embeddings")
    position = np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)
    missing = classes[position] != labels
    if missing.any():
        raise ValueError(f"identities absent from the gallery: {sorted(set(labels[missing]))}")
    chunk = max(1, QUERY_CELLS // len(classes))
    for start in range(0, len(labels), chunk):
        rows = slice(start, min(start + chunk, len(labels)))
        scores = _unit_rows(gen[rows].to(means.device)) @ means.T
        yield rows, scores, torch.as_tensor(position[rows], device=scores.device), len(classes)


def _true_scores(scores: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    return scores.gather(1, true.view(-1, 1))


def _pairwise_wins(true_score: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """1 where the true identity is strictly more similar, 0.5 on a tie, 0 otherwise."""
    return (true_score > other).to(torch.float64) + 0.5 * (true_score == other).to(torch.float64)


def matching_1to2(
    gen_emb,
    labels,
    gallery_emb,
    gallery_labels,
    *,
    impostors: Literal["all", "random"] = "all",
    seed: int | np.random.Generator | None = 0,
) -> float:
    """1:2 matching accuracy (Wen et al. 2019), cosine similarity, chance 0.5.

    For generated face i of identity y and an impostor identity c != y, a trial is won when
    cos(gen_i, mean_y) > cos(gen_i, mean_c) (ties count 1/2), where mean_k is identity k's mean
    real embedding (`class_means`). impostors="all" (default, deterministic): each face's score
    is its win rate over all C - 1 impostors, then the mean over faces. impostors="random": one
    impostor per face drawn uniformly with `seed`, then the mean over faces. Needs C >= 2.
    Higher is better.
    """
    if impostors not in ("all", "random"):
        raise ValueError(f"unknown impostors mode {impostors!r}; use 'all' or 'random'")
    n_classes = _n_identities(gallery_labels)
    if n_classes < 2:
        raise ValueError("1:2 matching needs at least two identities in the gallery")
    if impostors == "random":  # one draw for every face, as one pass draws it
        shift = np.random.default_rng(seed).integers(1, n_classes, size=len(_label_array(labels, "labels")))
    total, count = 0.0, 0
    for rows, scores, true, _ in _class_scores(gen_emb, labels, gallery_emb, gallery_labels):
        true_score = _true_scores(scores, true)
        if impostors == "all":
            wins = _pairwise_wins(true_score, scores).scatter(1, true.view(-1, 1), 0.0)
            total += float((wins.sum(dim=1) / (n_classes - 1)).sum())
        else:
            impostor = (true.cpu().numpy() + shift[rows]) % n_classes
            impostor_t = torch.as_tensor(impostor, device=scores.device).view(-1, 1)
            total += float(_pairwise_wins(true_score, scores.gather(1, impostor_t)).sum())
        count += scores.shape[0]
    return total / count if count else math.nan


def _ranks(scores: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """0-based rank of the true identity, pessimistic on ties: #{c != y : s_c >= s_y}."""
    true_score = _true_scores(scores, true)
    return (scores >= true_score).sum(dim=1) - 1


def recall_at_k(gen_emb, labels, gallery_emb, gallery_labels, k: int = 1) -> float:
    """1:N identification Recall@K against per-identity mean real embeddings (cosine).

    Recall@K = mean_i [ rank_i < K ], rank_i = number of other identities whose mean is at
    least as similar to gen_i as the true one (ties count against the generator, so a constant
    or zero embedding cannot score by luck). K = 1 is top-1 accuracy; chance is K / C.
    Higher is better.
    """
    ranks, _ = _identity_ranks(gen_emb, labels, gallery_emb, gallery_labels)
    return float((ranks < k).to(torch.float64).mean())


def identification(
    gen_emb, labels, gallery_emb, gallery_labels, ks: Sequence[int] = (1, 2, 5)
) -> dict[str, float]:
    """Recall@K for several K in one pass: {"top1": ..., "recall@2": ..., "recall@5": ...}.

    Same definition as `recall_at_k`; K = 1 is reported as "top1". A K larger than the number
    of gallery identities C is skipped (its key is absent), since Recall@K would be 1 trivially.
    """
    ranks, n_classes = _identity_ranks(gen_emb, labels, gallery_emb, gallery_labels)
    return {
        _recall_key(k): float((ranks < k).to(torch.float64).mean()) for k in ks if k <= n_classes
    }


def _identity_ranks(gen_emb, labels, gallery_emb, gallery_labels) -> tuple[torch.Tensor, int]:
    """(``_ranks`` of every generated face, C), chunk by chunk (``_class_scores``)."""
    ranks = [torch.zeros(0, dtype=torch.long)]
    for _, scores, true, _ in _class_scores(gen_emb, labels, gallery_emb, gallery_labels):
        ranks.append(_ranks(scores, true).cpu())
    return torch.cat(ranks), _n_identities(gallery_labels)


def _n_identities(gallery_labels) -> int:
    """C, the identities a gallery holds (those ``class_means`` averages over)."""
    return len(np.unique(_label_array(gallery_labels, "gallery_labels")))


def _recall_key(k: int) -> str:
    return "top1" if k == 1 else f"recall@{k}"


GALLERY_SIZE = 100
"""SF2F's retrieval gallery: the true identity and 99 distractors (capped at the identities the split holds)."""
GALLERY_DRAWS = 10
"""Galleries drawn per query (SF2F averages over draws; 10 keeps the spread of a 20-identity study small)."""
GALLERY_KS = (1, 2, 5, 10)
"""The K of SF2F's Recall@K table."""


def gallery_size(n_identities: int, requested: int = GALLERY_SIZE) -> int:
    """G = min(requested, C): a gallery cannot hold more identities than the split has."""
    if requested < 2:
        raise ValueError(f"a gallery needs at least 2 identities, got {requested}")
    return min(int(requested), int(n_identities))


def gallery_recall(
    gen_emb, labels, gallery_emb, gallery_labels, *, size: int = GALLERY_SIZE, draws: int = GALLERY_DRAWS,
    ks: Sequence[int] = GALLERY_KS, seed: int = 0,
) -> dict[str, float]:
    """Recall@K over galleries of G identities drawn per query (SF2F's retrieval), cosine, chance K / G.

    The C identities of the gallery embeddings are represented by their mean real embedding
    (``class_means``). G = ``gallery_size(C, size)``. For query i (a generated face of identity y_i)
    and draw r = 1..R, the gallery is y_i plus G - 1 distractors drawn uniformly without replacement
    from the C - 1 other identities (one ``numpy`` generator seeded by ``seed``: draw r's (N, C) uniform keys,
    the smallest G - 1 of each row off its own identity's; every query and draw has its own gallery). Queries are
    scored in chunks (``_class_scores``), each chunk reading its rows of the keys' stream, so any N gives the values
    of one pass (up to the float rounding of the chunk's cosines, which can only move an exact tie) in the memory of a chunk. rank_ir = #{c in gallery_ir, c != y_i : cos(gen_i, mean_c) >= cos(gen_i, mean_y_i)}
    (ties count against the generator). Recall@K = mean_i mean_r [rank_ir < K] (a mean over queries
    of each query's mean over its draws), in [0, 1]; higher is better; a face unrelated to every
    identity scores K / G in expectation. A K >= G is skipped (it would be 1 trivially). When
    G = C every gallery is the whole split, so R is 1 and the result equals ``recall_at_k``.

    Returns {"gallery_recall@K": ... for each kept K, "gallery_size": G, "gallery_draws": R,
    "gallery_identities": C, "gallery_requested": ``size``} (G < ``size`` says the cap applied).
    """
    gen, labels = _embeddings(gen_emb, "gen_emb"), _label_array(labels, "labels")
    if len(labels) != gen.shape[0]:
        raise ValueError(f"{len(labels)} labels for {gen.shape[0]} generated embeddings")
    n, n_classes = len(labels), _n_identities(gallery_labels)
    g = gallery_size(n_classes, size)
    draws = 1 if g == n_classes else int(draws)
    if draws < 1:
        raise ValueError(f"gallery draws must be at least 1, got {draws}")
    ranks = np.empty((draws, n), dtype=np.int64)
    for rows, scores, true, _ in _class_scores(gen, labels, gallery_emb, gallery_labels):
        scores_np, true_np = scores.cpu().numpy(), true.cpu().numpy()
        m, start = len(true_np), rows.start
        beats = scores_np >= scores_np[np.arange(m), true_np][:, None]  # (m, C): identity c ranks at or above the true one
        beats[np.arange(m), true_np] = False
        for r in range(draws):
            keys = _draw_keys(seed, (r * n + start) * n_classes, (m, n_classes))
            keys[np.arange(m), true_np] = np.inf  # never a distractor
            distractors = np.argpartition(keys, g - 2, axis=1)[:, : g - 1] if g > 1 else np.empty((m, 0), dtype=int)
            ranks[r, rows] = np.take_along_axis(beats, distractors, axis=1).sum(axis=1)
    out: dict[str, float] = {f"gallery_recall@{k}": float((ranks < k).mean(axis=0).mean()) for k in ks if k < g}
    out.update(gallery_size=g, gallery_draws=draws, gallery_identities=n_classes, gallery_requested=int(size))
    return out


def _draw_keys(seed: int, skip: int, shape: tuple[int, int]) -> np.ndarray:
    """Uniform keys of ``default_rng(seed)`` from its ``skip``-th double on: the block of one draw's (N, C) keys that a chunk
    of queries needs, without drawing the rest (PCG64 advances by any count; each double is one 64-bit output)."""
    bits = np.random.PCG64(seed)
    bits.advance(skip)
    return np.random.Generator(bits).random(shape)


def gallery_recall_at_k(gen_emb, labels, gallery_emb, gallery_labels, k: int = 1, **options) -> float:
    """One K of ``gallery_recall`` (same draw, same definition); NaN when K >= G."""
    return gallery_recall(gen_emb, labels, gallery_emb, gallery_labels, ks=(k,), **options).get(f"gallery_recall@{k}", math.nan)


def identity_spread(gen_emb, labels, target_emb) -> float:
    """How far apart the generated faces of different identities are, relative to their real target faces: >= 0.

    result = S(gen) / S(target), where S(E) = the mean over pairs of identities a != b of ||m_a - m_b||_2 and m_k
    is the unit mean direction of identity k's rows of E (``class_means``); ``target_emb`` row i is the judge
    embedding of face i's target. 0: every identity's faces share one mean direction (a collapsed generator, or
    one that ignores the voice); 1: identities as far apart as their target faces; above 1 is possible.
    Higher is better. NaN with fewer than two identities, or when all targets coincide.
    """
    _, generated = class_means(gen_emb, labels)
    _, real = class_means(target_emb, labels)
    if real.shape[0] < 2:
        return math.nan
    real_spread = float(torch.pdist(real).mean())
    if real_spread <= _EPS:
        return math.nan
    return float(torch.pdist(generated.to(real.device)).mean()) / real_spread


def mean_cosine(gen_emb, labels, gallery_emb, gallery_labels) -> float:
    """Mean cosine similarity to the own identity's mean real embedding, in [-1, 1].

    result = mean_i cos(gen_i, mean_{y_i}) with mean_k from `class_means`. Higher is better.
    """
    total, count = 0.0, 0
    for _, scores, true, _ in _class_scores(gen_emb, labels, gallery_emb, gallery_labels):
        total += float(_true_scores(scores, true).to(torch.float64).sum())
        count += scores.shape[0]
    return total / count if count else math.nan


# --------------------------------------------------------------------------- threshold curve


def threshold_curve(distances, same, taus) -> dict[str, np.ndarray]:
    """Verification quality of the rule "same identity iff d < tau" for every tau (Fig. 4).

    distances: (P,) pair distances; same: (P,) booleans (ground truth); taus: (T,) thresholds.
    Returns arrays of shape (T,) under "tau", "accuracy" = (TP + TN) / P,
    "precision" = TP / (TP + FP), "recall" = TP / (TP + FN), "f1" = 2 TP / (2 TP + FP + FN).
    A ratio with a zero denominator is reported as 0. Pairs are counted once each as given, by binary search in the
    sorted distances (memory of P values, not T x P).
    """
    d = _as_tensor(distances).cpu().numpy().reshape(-1)
    truth = _label_array(same, "same").astype(bool)
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)
    if d.shape != truth.shape:
        raise ValueError(f"{d.shape[0]} distances but {truth.shape[0]} same/different flags")
    same_sorted, other_sorted = np.sort(d[truth]), np.sort(d[~truth])
    tp = np.searchsorted(same_sorted, taus, side="left")  # pairs with d < tau, counted from sorted distances: O(P) memory
    fp = np.searchsorted(other_sorted, taus, side="left")
    fn = len(same_sorted) - tp
    tn = len(other_sorted) - fp
    return {
        "tau": taus,
        "accuracy": _ratio(tp + tn, np.full_like(tp, max(len(d), 1))),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


# --------------------------------------------------------------------------- distribution (judge embedding space)

KID_SUBSETS = 20
"""Random subsets KID averages over (torchmetrics' default is 100): at our test sizes each subset holds most of the smaller
set, so subsets differ little, and 20 keep an evaluation point short (0.15 s for 450 x 512-d on 2 cores)."""
KID_SUBSET_SIZE = 1000
"""Largest KID subset; smaller sets use their whole size (the smaller of the two)."""
PRDC_NEIGHBOURS = 5
"""k of precision, recall, density and coverage (Naeem et al. 2020 recommend 5)."""
PRDC_MAX_POINTS = 2000
"""Most points of either set ``prdc`` uses: a larger set is a seeded sample of this many. Its k-NN distances are (n x n)
matrices of float64, 250 MB for the 5,600 test windows of 1,251 identities and quadratic beyond."""
DISTRIBUTION_SEED = 0
"""Seed of KID's subsets: every evaluation point and trial draws the same ones, and training's random state is untouched."""


class _Given(torch.nn.Module):
    """The feature extractor handed to torchmetrics: the features are the judge's embeddings, computed already."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return embeddings


def _embedding_sets(gen_emb, real_emb) -> tuple[torch.Tensor, torch.Tensor]:
    gen, real = _embeddings(gen_emb, "gen_emb"), _embeddings(real_emb, "real_emb")
    if gen.shape[1] != real.shape[1]:
        raise ValueError(f"gen_emb and real_emb must have the same width, got {gen.shape[1]} and {real.shape[1]}")
    if len(gen) < 2 or len(real) < 2:
        raise ValueError(f"a distribution metric needs at least 2 embeddings per set, got {len(gen)} and {len(real)}")
    return gen.double().cpu(), real.double().cpu()  # torchmetrics keeps its state on the CPU


def frechet_distance(gen_emb, real_emb) -> float:
    """Fréchet distance between Gaussians fitted to the generated and the real embeddings (N, D) and (M, D):
    ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2)), as FID (Heusel et al. 2017) with the judge's embedding in place
    of Inception's, computed by torchmetrics' ``FrechetInceptionDistance`` on the given embeddings.

    Scale: squared embedding units, >= 0 (0 for identical sets); lower is better. Biased upwards at small n (the sample
    covariances), so values compare only at equal n: every result states its n."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    gen, real = _embedding_sets(gen_emb, real_emb)
    fid = FrechetInceptionDistance(feature=_Given(gen.shape[1]), reset_real_features=True)
    fid.update(real, real=True)
    fid.update(gen, real=False)
    return max(float(fid.compute()), 0.0)


def kernel_distance(gen_emb, real_emb, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE) -> float:
    """Kernel distance (KID, Binkowski et al. 2018) in the judge's embedding space: the unbiased estimate of the squared
    MMD with the polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over ``subsets`` random subsets of
    min(``subset_size``, N, M) generated and real embeddings (seeded by ``DISTRIBUTION_SEED``), by torchmetrics'
    ``KernelInceptionDistance``.

    Scale: squared kernel units, about 0 for sets from one distribution (it can fall below 0: it is unbiased); lower is
    better. Unlike FD it has no small-n bias, so values at different n compare."""
    from torchmetrics.image.kid import KernelInceptionDistance

    gen, real = _embedding_sets(gen_emb, real_emb)
    size = min(subset_size, len(gen), len(real))
    with warnings.catch_warnings():  # that it keeps every feature: these are the embeddings we hold already
        warnings.filterwarnings("ignore", message=".*will save all extracted features")
        kid = KernelInceptionDistance(feature=_Given(gen.shape[1]), subsets=subsets, subset_size=size)
    kid.update(real, real=True)
    kid.update(gen, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DISTRIBUTION_SEED)
        mean, _ = kid.compute()
    return float(mean)


def prdc(gen_emb, real_emb, k: int = PRDC_NEIGHBOURS) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) of the generated embeddings against the real ones, with
    k-nearest-neighbour balls in Euclidean distance (the ``prdc`` package):

    - precision: share of generated points inside some real point's k-NN ball (fidelity), fraction in [0, 1];
    - recall: share of real points inside some generated point's k-NN ball (diversity), fraction in [0, 1];
    - density: real balls containing each generated point, over k, averaged over generated points; >= 0, 1 for sets from
      one distribution (unbounded above);
    - coverage: share of real points whose ball holds at least one generated point, fraction in [0, 1].
    All higher is better. Each set needs more than k points; a set of more than ``PRDC_MAX_POINTS`` is a seeded sample of
    that many (``distribution`` states the n used)."""
    import contextlib
    import io

    from prdc import compute_prdc

    gen, real = _embedding_sets(gen_emb, real_emb)
    if min(len(gen), len(real)) <= k:
        raise ValueError(f"prdc with k = {k} needs more than {k} embeddings per set, got {len(gen)} and {len(real)}")
    gen, real = _at_most(gen, PRDC_MAX_POINTS), _at_most(real, PRDC_MAX_POINTS)
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the set sizes
        values = compute_prdc(real.float().cpu().numpy(), gen.float().cpu().numpy(), nearest_k=k)
    return {name: float(values[name]) for name in ("precision", "recall", "density", "coverage")}


def at_most(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` when there are at most ``n``, else ``n`` of them drawn by ``rng`` without replacement, in their order."""
    return rows if len(rows) <= n else np.sort(rng.choice(rows, size=n, replace=False))


def _at_most(points: torch.Tensor, n: int) -> torch.Tensor:
    """``points`` when there are at most ``n``, else ``n`` of them drawn without replacement (``DISTRIBUTION_SEED``), in order."""
    if len(points) <= n:
        return points
    return points[torch.as_tensor(at_most(np.arange(len(points)), n, np.random.default_rng(DISTRIBUTION_SEED)))]


DISTRIBUTION = ("frechet_distance", "kernel_distance", "precision", "recall", "density", "coverage")
"""The distribution metrics, in the order ``distribution`` returns them."""


def distribution(gen_emb, real_emb) -> dict[str, float]:
    """Every distribution metric of generated against real embeddings, plus ``distribution_n`` (generated) and
    ``distribution_real_n`` (real), and the n ``prdc`` used (``distribution_prdc_n``, ``distribution_prdc_real_n``: at most
    ``PRDC_MAX_POINTS``): FD and the ``prdc`` values depend on n. A set too small for a metric leaves it out."""
    gen, real = _embeddings(gen_emb, "gen_emb"), _embeddings(real_emb, "real_emb")
    out: dict[str, float] = {"distribution_n": float(len(gen)), "distribution_real_n": float(len(real))}
    if min(len(gen), len(real)) >= 2:
        out.update(frechet_distance=frechet_distance(gen, real), kernel_distance=kernel_distance(gen, real))
    if min(len(gen), len(real)) > PRDC_NEIGHBOURS:
        out.update(prdc(gen, real), distribution_prdc_n=float(min(len(gen), PRDC_MAX_POINTS)),
                   distribution_prdc_real_n=float(min(len(real), PRDC_MAX_POINTS)))
    return out


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Metric:
    """One reported metric and the single place its direction is declared.

    table: "I" (the paper's identity accuracy), "II" (image fidelity), "identity" (peer
    identity metrics beyond the paper) or "distribution" (generated against real faces as sets, in the
    judge's embedding space). scale: units and range, for tables and reports.
    """

    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    table: Literal["I", "II", "identity", "distribution"]
    scale: str
    recall_k: int | None = None
    """For a Recall@K metric, its K: the chance level is K / G, G read from the result's ``gallery``."""
    gallery: Literal["gallery_identities", "gallery_size"] | None = None
    """The result key holding G for the chance level: every identity of the split (``top1``, ``recall@K``)
    or the drawn gallery (``gallery_recall@K``)."""

    def chance(self, gallery: float) -> float:
        """The expected value of a face unrelated to every identity, K / G (NaN for a metric without one)."""
        if self.recall_k is None or not gallery or not math.isfinite(gallery):
            return math.nan
        return self.recall_k / gallery

    @property
    def mode(self) -> Literal["max", "min"]:
        """The Ray Tune / Optuna direction: "max" when higher is better, else "min"."""
        return "max" if self.higher_is_better else "min"

    def better(self, a: float, b: float) -> bool:
        """Whether value a is strictly better than value b for this metric."""
        return a > b if self.higher_is_better else a < b


def _registry(*metrics: Metric) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


METRICS: dict[str, Metric] = _registry(
    Metric("mae", mae, False, "II", "[0, 1] pixel scale, per image then mean"),
    Metric("mse", mse, False, "II", "[0, 1] pixel scale, per image then mean"),
    Metric("snr", snr, True, "II", "dB, scale-free, per image then mean, capped at 100"),
    Metric("psnr", psnr, True, "II", "dB, peak 1 on [0, 1], per image then mean, capped at 100"),
    Metric("pamse", pamse, False, "II", "0-255 pixel scale squared, per image then mean"),
    Metric("ssim", ssim, True, "II", "[-1, 1], per image then mean"),
    Metric("verification_accuracy", verification_accuracy, True, "I",
           "fraction in [0, 1] of generated faces with d(gen, target) < tau"),
    Metric("matching_1to2", matching_1to2, True, "identity",
           "fraction in [0, 1], chance 0.5, cosine to identity means, all impostors"),
    Metric("top1", partial(recall_at_k, k=1), True, "identity",
           "fraction in [0, 1], chance 1/C over the split's C identities, cosine to identity means, mean over faces",
           recall_k=1, gallery="gallery_identities"),
    Metric("recall@2", partial(recall_at_k, k=2), True, "identity",
           "fraction in [0, 1], chance 2/C over the split's C identities, cosine to identity means, mean over faces",
           recall_k=2, gallery="gallery_identities"),
    Metric("recall@5", partial(recall_at_k, k=5), True, "identity",
           "fraction in [0, 1], chance 5/C over the split's C identities, cosine to identity means, mean over faces",
           recall_k=5, gallery="gallery_identities"),
    *(Metric(f"gallery_recall@{k}", partial(gallery_recall_at_k, k=k), True, "identity",
             f"fraction in [0, 1], chance {k}/G over drawn galleries of G identities (true + G-1 random), cosine to identity means, "
             "mean over faces of the mean over draws", recall_k=k, gallery="gallery_size") for k in GALLERY_KS),
    Metric("mean_cosine", mean_cosine, True, "identity",
           "cosine in [-1, 1] to the own identity's mean real embedding"),
    Metric("identity_spread", identity_spread, True, "identity",
           "ratio >= 0: distance between identities' mean generated embeddings over that between their target faces' "
           "(mean over identity pairs); 0 = one face for every voice (collapsed), 1 = as distinct as the targets"),
    Metric("frechet_distance", frechet_distance, False, "distribution",
           "squared judge-embedding units >= 0, generated faces against the split's real photos (Gaussian fit); biased at small n"),
    Metric("kernel_distance", kernel_distance, False, "distribution",
           "squared MMD, cubic polynomial kernel on judge embeddings, unbiased (about 0 for one distribution), mean over subsets"),
    Metric("precision", lambda g, r: prdc(g, r)["precision"], True, "distribution",
           f"fraction in [0, 1] of generated faces inside a real photo's {PRDC_NEIGHBOURS}-NN ball (judge embeddings)"),
    Metric("recall", lambda g, r: prdc(g, r)["recall"], True, "distribution",
           f"fraction in [0, 1] of real photos inside a generated face's {PRDC_NEIGHBOURS}-NN ball (judge embeddings)"),
    Metric("density", lambda g, r: prdc(g, r)["density"], True, "distribution",
           f"ratio >= 0: real {PRDC_NEIGHBOURS}-NN balls holding a generated face, over {PRDC_NEIGHBOURS}, mean over faces; "
           "1 = as dense as the real photos"),
    Metric("coverage", lambda g, r: prdc(g, r)["coverage"], True, "distribution",
           f"fraction in [0, 1] of real photos whose {PRDC_NEIGHBOURS}-NN ball holds a generated face (judge embeddings)"),
)
"""Every metric the project reports, by the key used in results and reports."""
