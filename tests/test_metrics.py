"""Metric definitions, checked against scikit-image and against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import convolve1d, gaussian_filter
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from v2f_bench import metrics
from v2f_bench.metrics import METRICS

SIZE = 32


# --------------------------------------------------------------------------- image fixtures


def _random_pair(rng):
    return rng.random((3, 3, SIZE, SIZE)), rng.random((3, 3, SIZE, SIZE))


def _smooth_pair(rng):
    """Blurred noise: strong local correlation, like photographs."""
    g = gaussian_filter(rng.random((3, 3, SIZE, SIZE)), sigma=(0, 0, 3, 3))
    t = np.clip(g + 0.05 * rng.standard_normal(g.shape), 0, 1)
    return g, t


def _structured_pair(rng):
    """Stripes, a checkerboard and a ramp against noisy, shifted versions of themselves."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    stripes = 0.5 + 0.5 * np.sin(12 * x)
    checks = ((np.floor(8 * x) + np.floor(8 * y)) % 2).astype(float)
    ramp = x * y
    target = np.stack([np.stack([stripes, checks, ramp])] * 2)
    generated = np.clip(np.roll(target, 1, axis=-1) + 0.1 * rng.standard_normal(target.shape), 0, 1)
    return generated, target


def _identical_pair(rng):
    t = rng.random((2, 3, SIZE, SIZE))
    return t.copy(), t


PAIRS = [
    pytest.param(_random_pair, id="random"),
    pytest.param(_smooth_pair, id="smooth"),
    pytest.param(_structured_pair, id="structured"),
    pytest.param(_identical_pair, id="identical"),
]


def _per_image_skimage(fn, generated, target) -> float:
    """Apply a skimage metric to each (C, H, W) image as (H, W, C) and average."""
    values = [fn(np.moveaxis(g, 0, -1), np.moveaxis(t, 0, -1)) for g, t in zip(generated, target)]
    return float(np.mean(values))


# --------------------------------------------------------------------------- against skimage


@pytest.mark.parametrize("make_pair", PAIRS)
def test_mse_matches_skimage_per_image_mean(make_pair):
    g, t = make_pair(np.random.default_rng(0))
    expected = _per_image_skimage(mean_squared_error, g, t)
    assert metrics.mse(torch.as_tensor(g), torch.as_tensor(t)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("make_pair", PAIRS[:3])
def test_psnr_is_the_mean_of_per_image_psnrs(make_pair):
    g, t = make_pair(np.random.default_rng(1))
    skimage_psnr = lambda a, b: peak_signal_noise_ratio(b, a, data_range=1.0)  # noqa: E731
    expected = _per_image_skimage(skimage_psnr, g, t)
    assert metrics.psnr(g, t) == pytest.approx(expected, abs=1e-9)
    assert metrics.psnr(g, t) != pytest.approx(10 * math.log10(1 / metrics.mse(g, t)), abs=1e-6)


def test_psnr_and_snr_of_identical_images_are_capped():
    _, t = _identical_pair(np.random.default_rng(2))
    assert metrics.psnr(t, t) == metrics.PSNR_CAP_DB == 100.0
    assert metrics.snr(t, t) == 100.0


@pytest.mark.parametrize("make_pair", PAIRS)
def test_ssim_matches_skimage_gaussian_window(make_pair):
    g, t = make_pair(np.random.default_rng(3))

    def skimage_ssim(a, b):
        return structural_similarity(
            a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )

    expected = _per_image_skimage(skimage_ssim, g, t)
    assert metrics.ssim(torch.as_tensor(g, dtype=torch.float32), t) == pytest.approx(
        expected, abs=metrics.SSIM_TOLERANCE
    )


def test_ssim_of_identical_images_is_one():
    _, t = _identical_pair(np.random.default_rng(4))
    assert metrics.ssim(t, t) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- hand-computed cases


def _constant(value, shape=(2, 3, 16, 16)):
    return torch.full(shape, value, dtype=torch.float64)


def test_snr_of_a_constant_target_with_a_constant_error():
    """Target 0.5, error 0.05: 10 log10(0.25 / 0.0025) = 20 dB."""
    assert metrics.snr(_constant(0.55), _constant(0.5)) == pytest.approx(20.0, abs=1e-9)


def test_pamse_of_a_constant_error_is_the_squared_error_on_the_255_scale():
    """A normalised Gaussian preserves a constant, so PAMSE = (255 e)^2 exactly ('valid' mode)."""
    error = 0.1
    assert metrics.pamse(_constant(0.6), _constant(0.5)) == pytest.approx((255 * error) ** 2)


def test_pamse_smooths_away_pixel_noise_that_mse_counts():
    """Alternating +-e noise (a checkerboard) is nearly cancelled by the smoothing."""
    t = _constant(0.5)
    y, x = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    g = t + 0.1 * (2 * ((x + y) % 2) - 1)
    assert metrics.pamse(g, t) < 0.05 * (255 * 0.1) ** 2
    assert metrics.mse(g, t) == pytest.approx(0.01)


def test_pamse_uses_valid_padding():
    """A 7x7 image has one 'valid' output, the centre; a unit error in the corner pixel reaches it
    through the kernel's corner weight alone, so PAMSE = (255 w_corner)^2 (padding would add
    more outputs and change the mean)."""
    t = _constant(0.0, (1, 1, 7, 7))
    g = t.clone()
    g[..., 0, 0] = 1.0
    corner_tap = metrics._gaussian_1d(3, 0.8, torch.float64, "cpu")[0] ** 2
    assert metrics.pamse(g, t) == pytest.approx(float((255 * corner_tap) ** 2))


@pytest.mark.parametrize(
    "level",
    [
        pytest.param(0.5, id="mid-grey"),
        pytest.param(0.3, id="dark"),
        pytest.param(0.9, id="bright"),
    ],
)
def test_psnr_minus_snr_is_minus_ten_log_of_the_target_mean_square(level):
    """The REFERENCE observation (10.42 dB in every published row) for a constant target."""
    rng = np.random.default_rng(5)
    t = _constant(level)
    g = (t + 0.05 * torch.as_tensor(rng.standard_normal(t.shape))).clamp(0, 1)
    gap = metrics.psnr(g, t) - metrics.snr(g, t)
    assert gap == pytest.approx(-10 * math.log10(level**2), abs=1e-9)


def test_mae_of_a_constant_error():
    assert metrics.mae(_constant(0.25), _constant(0.5)) == pytest.approx(0.25)


def test_image_quality_agrees_with_the_single_metrics():
    g, t = _smooth_pair(np.random.default_rng(6))
    together = metrics.image_quality(g, t)
    assert set(together) == {"mae", "mse", "snr", "psnr", "pamse", "ssim"}
    for name, value in together.items():
        assert value == pytest.approx(METRICS[name].fn(g, t), abs=1e-12), name


@pytest.mark.parametrize(
    "generated, target, message",
    [
        pytest.param(_constant(255.0), _constant(0.5), "must lie in", id="0-255-scale"),
        pytest.param(_constant(-1.0), _constant(0.5), "must lie in", id="tanh-scale"),
        pytest.param(_constant(0.5, (2, 3, 8, 8)), _constant(0.5), "one shape", id="shape"),
    ],
)
def test_image_inputs_are_validated(generated, target, message):
    with pytest.raises(ValueError, match=message):
        metrics.image_quality(generated, target)


def test_ssim_rejects_images_smaller_than_its_window():
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(_constant(0.5, (1, 3, 8, 8)), _constant(0.5, (1, 3, 8, 8)))


# --------------------------------------------------------------------------- fast batched path


def _skimage_ssim(a, b):
    return structural_similarity(
        a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )


def _float64_pamse(generated, target) -> float:
    """PAMSE by scipy in float64: separable 7-tap Gaussian, interior ('valid') values kept."""
    taps = metrics._gaussian_1d(3, 0.8, torch.float64, "cpu").numpy()
    error = 255.0 * (np.asarray(generated, dtype=np.float64) - np.asarray(target, dtype=np.float64))
    smoothed = convolve1d(convolve1d(error, taps, axis=-1), taps, axis=-2)[..., 3:-3, 3:-3]
    return float((smoothed**2).reshape(len(error), -1).mean(axis=1).mean())


def _noisy_batch(rng, n=100, size=64, dtype=np.float32):
    """n images of 3 x size x size (several CPU chunks at 64x64) and noisy copies."""
    target = rng.random((n, 3, size, size)).astype(dtype)
    generated = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1).astype(dtype)
    return generated, target


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_batched_metrics_agree_with_skimage_per_image(dtype):
    """The float32 SSIM map within SSIM_TOLERANCE; MSE and PSNR, computed in float64, to rounding."""
    g, t = _noisy_batch(np.random.default_rng(10), dtype=dtype)
    ours = metrics.image_quality(torch.as_tensor(g), torch.as_tensor(t))
    g64, t64 = g.astype(np.float64), t.astype(np.float64)
    assert ours["ssim"] == pytest.approx(_per_image_skimage(_skimage_ssim, g64, t64),
                                         abs=metrics.SSIM_TOLERANCE)
    assert ours["mse"] == pytest.approx(_per_image_skimage(mean_squared_error, g64, t64), abs=1e-12)
    skimage_psnr = lambda a, b: peak_signal_noise_ratio(b, a, data_range=1.0)  # noqa: E731
    assert ours["psnr"] == pytest.approx(_per_image_skimage(skimage_psnr, g64, t64), abs=1e-9)


def _flat_bright(rng):
    """Flat 0.9 against faint noise: without the mean shift, float32 E[x^2] - mu^2 errs by 5e-5."""
    t = np.full((4, 3, 64, 64), 0.9)
    return np.clip(t + 1e-3 * rng.standard_normal(t.shape), 0, 1), t


def _flat_halves(rng):
    """Black and white halves, faint noise: no single shift brings both near 0 (worst found)."""
    half = np.broadcast_to((np.arange(64) < 32).astype(float), (4, 3, 64, 64))
    noisy = [np.clip(half + 1e-3 * rng.standard_normal(half.shape), 0, 1) for _ in range(2)]
    return noisy[0], noisy[1]


@pytest.mark.parametrize("make_pair", [_flat_bright, _flat_halves], ids=["bright", "halves"])
def test_float32_ssim_holds_on_flat_regions(make_pair):
    g, t = make_pair(np.random.default_rng(11))
    expected = _per_image_skimage(_skimage_ssim, g, t)
    assert metrics.ssim(g, t) == pytest.approx(expected, abs=metrics.SSIM_TOLERANCE)


@pytest.mark.parametrize("make_pair", PAIRS[:3])
def test_float32_pamse_agrees_with_float64(make_pair):
    g, t = make_pair(np.random.default_rng(12))
    assert metrics.pamse(g, t) == pytest.approx(_float64_pamse(g, t),
                                                rel=metrics.PAMSE_RELATIVE_TOLERANCE)


def test_chunking_does_not_change_the_result(monkeypatch):
    """One image per chunk and the whole batch in one chunk give the same values."""
    g, t = (torch.as_tensor(x) for x in _noisy_batch(np.random.default_rng(13), n=9, size=32))
    monkeypatch.setattr(metrics, "_CPU_CHUNK_ELEMENTS", 1)
    one_by_one = metrics.image_quality(g, t)
    monkeypatch.setattr(metrics, "_CPU_CHUNK_ELEMENTS", 2**30)
    together = metrics.image_quality(g, t)
    for name, value in together.items():
        assert one_by_one[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_image_quality_on_cuda_matches_cpu():
    g, t = (torch.as_tensor(x) for x in _noisy_batch(np.random.default_rng(14), n=16))
    on_cpu = metrics.image_quality(g, t)
    on_cuda = metrics.image_quality(g.cuda(), t.cuda())
    assert on_cuda["ssim"] == pytest.approx(on_cpu["ssim"], abs=metrics.SSIM_TOLERANCE)
    assert on_cuda["pamse"] == pytest.approx(on_cpu["pamse"], rel=metrics.PAMSE_RELATIVE_TOLERANCE)
    for name in ("mae", "mse", "snr", "psnr"):
        assert on_cuda[name] == pytest.approx(on_cpu[name], rel=1e-9), name


# --------------------------------------------------------------------------- identity metrics

N_CLASSES, PER_CLASS, DIM = 6, 4, 16


@pytest.fixture
def gallery():
    """Orthogonal identity prototypes; real faces are prototypes plus a little noise."""
    rng = np.random.default_rng(7)
    prototypes = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0][:N_CLASSES]
    labels = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    emb = prototypes[labels] + 0.05 * rng.standard_normal((len(labels), DIM))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return torch.as_tensor(prototypes), torch.as_tensor(emb), labels


def test_perfect_generator_scores_one_everywhere(gallery):
    prototypes, emb, labels = gallery
    gen_labels = np.tile(np.arange(N_CLASSES), 3)
    gen = prototypes[gen_labels]
    assert metrics.matching_1to2(gen, gen_labels, emb, labels) == 1.0
    assert metrics.matching_1to2(gen, gen_labels, emb, labels, impostors="random", seed=1) == 1.0
    assert metrics.identification(gen, gen_labels, emb, labels) == {
        "top1": 1.0, "recall@2": 1.0, "recall@5": 1.0,
    }
    assert metrics.mean_cosine(gen, gen_labels, emb, labels) > 0.99


def test_identity_spread_is_zero_for_one_face_per_voice_and_one_for_each_identitys_target(gallery):
    """The collapse measure separates a constant generator (every voice, one face) from one that returns each
    identity's target face, whatever the targets' own spread."""
    prototypes, _, _ = gallery
    labels = np.tile(np.arange(N_CLASSES), 3)
    targets = prototypes[labels]
    assert metrics.identity_spread(prototypes[[0] * len(labels)], labels, targets) == pytest.approx(0.0, abs=1e-6)
    assert metrics.identity_spread(targets, labels, targets) == pytest.approx(1.0)
    halfway = torch.nn.functional.normalize(targets + prototypes[[0] * len(labels)], dim=1)
    assert 0.2 < metrics.identity_spread(halfway, labels, targets) < 0.9
    assert math.isnan(metrics.identity_spread(targets[:1], labels[:1], targets[:1])), "one identity has no spread"


def test_constant_generator_is_at_chance(gallery):
    """Every voice mapped to one face: 1:2 exactly 0.5 over all impostors, top-1 exactly 1/C."""
    _, emb, labels = gallery
    gen_labels = np.tile(np.arange(N_CLASSES), 5)
    gen = torch.as_tensor(np.random.default_rng(8).standard_normal(DIM)).expand(len(gen_labels), -1)
    assert metrics.matching_1to2(gen, gen_labels, emb, labels) == pytest.approx(0.5)
    result = metrics.identification(gen, gen_labels, emb, labels)
    assert result["top1"] == pytest.approx(1 / N_CLASSES)
    assert result["recall@2"] == pytest.approx(2 / N_CLASSES)
    assert result["recall@5"] == pytest.approx(5 / N_CLASSES)


def test_random_impostor_matching_is_seeded(gallery):
    _, emb, labels = gallery
    rng = np.random.default_rng(9)
    gen_labels = np.tile(np.arange(N_CLASSES), 10)
    gen = torch.as_tensor(rng.standard_normal((len(gen_labels), DIM)))
    first = metrics.matching_1to2(gen, gen_labels, emb, labels, impostors="random", seed=3)
    again = metrics.matching_1to2(gen, gen_labels, emb, labels, impostors="random", seed=3)
    assert first == again


def test_a_zero_embedding_gets_no_credit_from_ties(gallery):
    """All similarities tie at 0: 1:2 counts ties as half, identification counts them as misses."""
    _, emb, labels = gallery
    gen_labels = np.arange(N_CLASSES)
    gen = torch.zeros(N_CLASSES, DIM, dtype=torch.float64)
    assert metrics.matching_1to2(gen, gen_labels, emb, labels) == 0.5
    assert metrics.identification(gen, gen_labels, emb, labels)["top1"] == 0.0


def test_string_labels_and_k_beyond_the_gallery(gallery):
    prototypes, emb, labels = gallery
    names = np.array([f"id{label:05d}" for label in labels])
    gen = prototypes[:2]
    result = metrics.identification(gen, names[[0, PER_CLASS]], emb, names, ks=(1, 5, 10))
    assert result == {"top1": 1.0, "recall@5": 1.0}


# --------------------------------------------------------------------------- Recall@K over drawn galleries


def _identities(n: int, dim: int = 32, per_class: int = 3, seed: int = 0):
    """n well-separated identities: (prototypes (n, dim), gallery embeddings, gallery labels)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((n, dim))
    labels = np.repeat(np.arange(n), per_class)
    return prototypes, prototypes[labels] + 0.01 * rng.standard_normal((len(labels), dim)), labels


def test_gallery_recall_of_unrelated_faces_is_k_over_g_over_many_draws():
    """Random generated faces: each query's true identity sits at a uniform rank in its gallery, so Recall@K -> K / G."""
    _, emb, labels = _identities(60)
    rng = np.random.default_rng(1)
    gen_labels = np.repeat(np.arange(60), 20)
    gen = rng.standard_normal((len(gen_labels), emb.shape[1]))
    result = metrics.gallery_recall(gen, gen_labels, emb, labels, size=20, draws=20, seed=2)
    assert (result["gallery_size"], result["gallery_draws"], result["gallery_identities"]) == (20, 20, 60)
    for k in metrics.GALLERY_KS:
        # 1200 queries x 20 draws: the standard error of the mean is below 0.01 for every K
        assert result[f"gallery_recall@{k}"] == pytest.approx(k / 20, abs=0.03), k
        assert METRICS[f"gallery_recall@{k}"].chance(result["gallery_size"]) == k / 20


def test_gallery_recall_of_a_perfect_generator_is_one():
    prototypes, emb, labels = _identities(30)
    gen_labels = np.tile(np.arange(30), 2)
    result = metrics.gallery_recall(prototypes[gen_labels], gen_labels, emb, labels, size=12, draws=5)
    assert {k: v for k, v in result.items() if k.startswith("gallery_recall@")} == {f"gallery_recall@{k}": 1.0 for k in (1, 2, 5, 10)}


def test_gallery_size_is_capped_at_the_identities_and_k_at_or_above_g_is_skipped():
    """Seven identities and the default G = 100: G = 7, one draw (the whole split), Recall@10 absent, top-K equal to recall_at_k."""
    _, emb, labels = _identities(7)
    rng = np.random.default_rng(4)
    gen_labels = np.repeat(np.arange(7), 5)
    gen = rng.standard_normal((len(gen_labels), emb.shape[1]))
    result = metrics.gallery_recall(gen, gen_labels, emb, labels)
    assert (result["gallery_size"], result["gallery_draws"]) == (7, 1)
    assert "gallery_recall@10" not in result and set(result) >= {"gallery_recall@1", "gallery_recall@2", "gallery_recall@5"}
    for k in (1, 2, 5):
        assert result[f"gallery_recall@{k}"] == metrics.recall_at_k(gen, gen_labels, emb, labels, k=k)
    assert math.isnan(metrics.gallery_recall_at_k(gen, gen_labels, emb, labels, k=10))
    assert "gallery_recall@5" not in metrics.gallery_recall(gen, gen_labels, emb, labels, size=5, draws=3)


def test_gallery_draws_are_seeded_and_every_gallery_holds_the_true_identity():
    prototypes, emb, labels = _identities(40)
    rng = np.random.default_rng(5)
    gen_labels = np.repeat(np.arange(40), 3)
    gen = rng.standard_normal((len(gen_labels), emb.shape[1]))
    first = metrics.gallery_recall(gen, gen_labels, emb, labels, size=10, seed=7)
    assert first == metrics.gallery_recall(gen, gen_labels, emb, labels, size=10, seed=7)
    assert first != metrics.gallery_recall(gen, gen_labels, emb, labels, size=10, seed=8)
    # a face equal to its own identity is ranked first in any gallery that holds it
    assert metrics.gallery_recall(prototypes[gen_labels], gen_labels, emb, labels, size=2, draws=50)["gallery_recall@1"] == 1.0


def test_gallery_recall_in_chunks_of_queries_is_the_one_pass_over_every_query(monkeypatch):
    """Chunks of queries read their own rows of each draw's key stream: the values are those of drawing every query's
    keys at once (the definition, written out here), whatever the chunk."""
    _, emb, labels = _identities(25)
    rng = np.random.default_rng(6)
    gen_labels = np.repeat(np.arange(25), 4)
    gen = rng.standard_normal((len(gen_labels), emb.shape[1]))
    classes, means = metrics.class_means(emb, labels)
    scores = (torch.as_tensor(gen) / torch.as_tensor(gen).norm(dim=1, keepdim=True)) @ means.T.to(torch.float64)
    scores = scores.numpy()
    n, true = len(gen_labels), np.searchsorted(classes, gen_labels)
    beats = scores >= scores[np.arange(n), true][:, None]
    beats[np.arange(n), true] = False
    draw = np.random.default_rng(9)
    ranks = []
    for _ in range(4):
        keys = draw.random((n, 25))
        keys[np.arange(n), true] = np.inf
        ranks.append(np.take_along_axis(beats, np.argpartition(keys, 5, axis=1)[:, :6], axis=1).sum(axis=1))
    expected = {f"gallery_recall@{k}": float((np.array(ranks) < k).mean(axis=0).mean()) for k in (1, 2, 5)}
    monkeypatch.setattr(metrics, "QUERY_CELLS", 7 * 25)
    chunked = metrics.gallery_recall(gen, gen_labels, emb, labels, size=7, draws=4, seed=9)
    assert {k: chunked[k] for k in expected} == pytest.approx(expected, abs=1e-12)


def test_identity_metrics_in_chunks_of_faces_are_the_one_pass(monkeypatch):
    """The identity metrics hold a (chunk, C) block of cosines at a time (``QUERY_CELLS``): the chunked values are the
    values of scoring every face at once."""
    prototypes, emb, labels = _identities(25)
    rng = np.random.default_rng(3)
    gen_labels = np.repeat(np.arange(25), 3)
    gen = prototypes[gen_labels] + 1.5 * rng.standard_normal((len(gen_labels), emb.shape[1]))  # near their identity, not on it

    def every_metric():
        return {"all": metrics.matching_1to2(gen, gen_labels, emb, labels),
                "random": metrics.matching_1to2(gen, gen_labels, emb, labels, impostors="random", seed=4),
                **metrics.identification(gen, gen_labels, emb, labels),
                "recall@3": metrics.recall_at_k(gen, gen_labels, emb, labels, k=3),
                "mean_cosine": metrics.mean_cosine(gen, gen_labels, emb, labels)}

    whole = every_metric()
    monkeypatch.setattr(metrics, "QUERY_CELLS", 4 * 25)  # chunks of 4 faces
    assert every_metric() == pytest.approx(whole, abs=1e-12)
    assert 0.0 < whole["top1"] < 1.0 and whole["all"] != whole["random"]


def test_unknown_identity_is_an_error(gallery):
    prototypes, emb, labels = gallery
    with pytest.raises(ValueError, match="absent from the gallery"):
        metrics.recall_at_k(prototypes[:1], [99], emb, labels)


@pytest.mark.parametrize(
    "distance, tau, expected",
    [
        pytest.param("sq_l2", 0.75, 0.5, id="sq_l2-tau-0.75"),
        pytest.param("sq_l2", 1.5, 0.75, id="sq_l2-tau-1.5"),
        pytest.param("l2", 0.85, 0.5, id="l2-tau-0.85"),
        pytest.param("l2", 0.5, 0.25, id="l2-tau-0.5"),
        pytest.param("sq_l2", 0.0, 0.0, id="d-equal-to-tau-is-not-a-match"),
    ],
)
def test_verification_accuracy_with_known_distances(distance, tau, expected):
    """Unit vectors at angles 0, 41.4, 60 and 90 degrees: sq_l2 = 2 - 2 cos = 0, 0.5, 1, 2."""
    cosines = torch.tensor([1.0, 0.75, 0.5, 0.0], dtype=torch.float64)
    target = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    gen = torch.stack([cosines, (1 - cosines**2).sqrt()], dim=1)
    assert metrics.verification_accuracy(gen, target, tau, distance=distance) == expected


def test_pair_distance_kinds():
    a = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    b = torch.tensor([[0.0, 4.0], [0.0, 0.0]])
    assert metrics.pair_distance(a, b, "l2").tolist() == [5.0, 0.0]
    assert metrics.pair_distance(a, b, "sq_l2").tolist() == [25.0, 0.0]
    with pytest.raises(ValueError, match="unknown distance"):
        metrics.pair_distance(a, b, "cosine")


def test_threshold_curve_counts_d_strictly_below_tau_as_same():
    distances = np.array([0.1, 0.4, 0.6, 0.9])
    same = np.array([True, True, False, False])
    curve = metrics.threshold_curve(distances, same, [0.05, 0.4, 0.5, 1.0])
    assert curve["accuracy"].tolist() == [0.5, 0.75, 1.0, 0.5]
    assert curve["precision"].tolist() == [0.0, 1.0, 1.0, 0.5]
    assert curve["recall"].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert curve["f1"] == pytest.approx([0.0, 2 / 3, 1.0, 2 / 3])


# --------------------------------------------------------------------------- registry

EXPECTED_DIRECTIONS = {
    "mae": False, "mse": False, "snr": True, "psnr": True, "pamse": False, "ssim": True,
    "verification_accuracy": True, "matching_1to2": True, "top1": True, "recall@2": True,
    "recall@5": True, "mean_cosine": True, "identity_spread": True,
    **{f"gallery_recall@{k}": True for k in metrics.GALLERY_KS},
    "frechet_distance": False, "kernel_distance": False, "precision": True, "recall": True, "density": True, "coverage": True,
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_declares_direction_table_and_scale(name):
    metric = METRICS[name]
    assert metric.name == name
    assert metric.higher_is_better is EXPECTED_DIRECTIONS[name]
    assert metric.table in {"I", "II", "identity", "distribution"}
    assert metric.scale
    assert metric.mode == ("max" if metric.higher_is_better else "min")


def test_registry_covers_every_image_quality_key_and_orders_values():
    assert {m.name for m in METRICS.values() if m.table == "II"} == set(
        metrics.image_quality(_constant(0.5), _constant(0.4))
    )
    assert METRICS["psnr"].better(30.0, 20.0) and METRICS["mse"].better(0.01, 0.02)


# --------------------------------------------------------------------------- distribution metrics


def test_the_frechet_distance_of_a_set_to_itself_is_zero_and_grows_with_a_known_shift():
    """For one set and the same set moved by d in every one of D dimensions, the covariances are equal and FD = D d^2."""
    torch.manual_seed(0)
    real = torch.randn(300, 8)
    assert metrics.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    shifts = [metrics.frechet_distance(real + d, real) for d in (0.1, 0.5, 1.0)]
    assert shifts == pytest.approx([8 * 0.01, 8 * 0.25, 8 * 1.0], rel=1e-6)


def test_the_frechet_distance_sees_a_change_of_spread():
    """Same mean, covariance s^2 I against I: FD = D (s - 1)^2 for the population; close to it for 4000 samples."""
    torch.manual_seed(0)
    real = torch.randn(4000, 4)
    wide = torch.randn(4000, 4) * 2
    assert metrics.frechet_distance(wide, real) == pytest.approx(4 * (2 - 1) ** 2, rel=0.1)


def _poly(x: np.ndarray, y: np.ndarray) -> float:
    return (float(x @ y) / len(x) + 1.0) ** 3


def test_the_kernel_distance_equals_a_hand_computed_unbiased_mmd():
    """With subsets as large as the sets every subset is the whole set, so KID is the unbiased MMD^2 of the two sets:
    mean over i != j of k(x_i, x_j) + the same for y - 2 mean over i, j of k(x_i, y_j)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)), rng.normal(1.0, 1.0, size=(5, 3))
    m = len(x)
    xx = sum(_poly(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(_poly(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(_poly(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert metrics.kernel_distance(y, x, subsets=3) == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_the_kernel_distance_is_near_zero_for_one_distribution_and_grows_apart():
    torch.manual_seed(0)
    a, b = torch.randn(400, 16), torch.randn(400, 16)
    same, apart = metrics.kernel_distance(a, b), metrics.kernel_distance(a + 1.0, b)
    assert abs(same) < 0.05 * apart


def test_precision_recall_density_and_coverage_tell_fidelity_from_diversity():
    """Generated points all on one real point: precise but with no recall or coverage. The real set itself: every value 1."""
    torch.manual_seed(0)
    real = torch.randn(200, 4)
    same = metrics.prdc(real, real)
    assert same == pytest.approx({"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0})
    collapsed = metrics.prdc(real[:1].expand(50, -1) + 1e-3 * torch.randn(50, 4), real)
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.05


def test_distribution_states_its_sample_sizes_and_leaves_out_what_a_small_set_cannot_give():
    torch.manual_seed(0)
    out = metrics.distribution(torch.randn(30, 4), torch.randn(20, 4))
    assert set(out) == {"distribution_n", "distribution_real_n", "distribution_prdc_n", "distribution_prdc_real_n", *metrics.DISTRIBUTION}
    assert (out["distribution_n"], out["distribution_real_n"], out["distribution_prdc_n"]) == (30, 20, 30)
    small = metrics.distribution(torch.randn(4, 4), torch.randn(20, 4))
    assert set(small) == {"distribution_n", "distribution_real_n", "frechet_distance", "kernel_distance"}


def test_prdc_of_a_large_set_uses_a_seeded_sample_and_says_so(monkeypatch):
    """Its k-NN matrices are quadratic in n: above PRDC_MAX_POINTS a set is a seeded sample, stated beside the values."""
    monkeypatch.setattr(metrics, "PRDC_MAX_POINTS", 60)
    rng = np.random.default_rng(0)
    gen, real = rng.standard_normal((200, 8)), rng.standard_normal((50, 8))
    row = metrics.distribution(gen, real)
    assert (row["distribution_n"], row["distribution_prdc_n"], row["distribution_prdc_real_n"]) == (200, 60, 50)
    assert metrics.prdc(gen, real) == metrics.prdc(gen, real), "the same sample every time"
    assert metrics.prdc(gen, real) == metrics.prdc(gen[np.sort(np.random.default_rng(metrics.DISTRIBUTION_SEED).choice(200, 60, replace=False))], real)


def test_the_distribution_metrics_form_their_own_table():
    assert {m.name for m in METRICS.values() if m.table == "distribution"} == set(metrics.DISTRIBUTION)
