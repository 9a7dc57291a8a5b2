"""The judge's threshold and settings: pairs, tau calibration, verification, JudgeConfig checks.

The judges themselves are tested in ``tests/judges/``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig, calibrate, pair_verification, tau_grid, unordered_pairs


def embeddings_at_distances(same_distance: float, other_distance: float, per_identity: int = 3, identities: int = 3) -> tuple[torch.Tensor, np.ndarray]:
    """Unit vectors whose squared L2 distance is ``same_distance`` within an identity and ``other_distance`` across.

    Each identity gets its own orthogonal axis; photos share it and add a private orthogonal
    component, so every pair distance is known in closed form.
    """
    n = per_identity * identities
    dim = identities + n
    cos_within = 1 - same_distance / 2
    emb = torch.zeros(n, dim)
    labels = np.repeat(np.arange(identities), per_identity)
    for k, label in enumerate(labels):
        emb[k, label] = np.sqrt(cos_within)
        emb[k, identities + k] = np.sqrt(1 - cos_within)
    assert other_distance == pytest.approx(2.0)
    return emb, labels


def test_pairs_are_unordered_distinct_and_counted_once():
    i, j, same = unordered_pairs([0, 0, 1, 1, 1])
    assert len(i) == 5 * 4 // 2
    assert (i < j).all()
    assert same.sum() == 1 + 3


def test_calibration_finds_the_known_threshold():
    emb, labels = embeddings_at_distances(0.3, 2.0)
    calibration = calibrate(emb, labels, distance="sq_l2", criterion="accuracy", step=0.01)
    assert calibration.tau == pytest.approx(0.31)
    assert calibration.accuracy == 1.0 and calibration.f1 == 1.0
    assert calibration.n_pairs == 36 and calibration.n_same == 9
    assert len(calibration.curve["tau"]) == len(tau_grid("sq_l2", 0.01))
    assert set(calibration.curve) == {"tau", "accuracy", "precision", "recall", "f1"}


def test_l2_and_squared_l2_thresholds_differ_by_the_square_root():
    emb, labels = embeddings_at_distances(0.36, 2.0)
    squared = calibrate(emb, labels, distance="sq_l2").tau
    plain = calibrate(emb, labels, distance="l2").tau
    assert squared == pytest.approx(0.37) and plain == pytest.approx(0.61)


def test_f1_and_accuracy_criteria_can_choose_different_thresholds():
    """With few same pairs, accuracy prefers a strict threshold that F1 would loosen to catch more of them."""
    rng = np.random.default_rng(0)
    emb = torch.nn.functional.normalize(torch.as_tensor(rng.normal(size=(40, 8)), dtype=torch.float32), dim=1)
    labels = np.arange(40) // 2
    by_accuracy = calibrate(emb, labels, criterion="accuracy")
    by_f1 = calibrate(emb, labels, criterion="f1")
    assert by_f1.tau > by_accuracy.tau
    assert by_f1.f1 >= by_accuracy.f1 and by_accuracy.accuracy >= by_f1.accuracy


def test_calibration_without_same_pairs_is_a_clear_error():
    with pytest.raises(UserError, match="at least two photos of one identity"):
        calibrate(torch.eye(3), [0, 1, 2])


def test_verification_on_held_out_pairs_uses_the_given_threshold():
    emb, labels = embeddings_at_distances(0.3, 2.0)
    assert pair_verification(emb, labels, 0.31, "sq_l2")["accuracy"] == 1.0
    assert pair_verification(emb, labels, 0.29, "sq_l2")["accuracy"] == pytest.approx(27 / 36)


@pytest.mark.parametrize(
    "field, value, flag",
    [
        pytest.param("kind", "openface", "--judge", id="kind"),
        pytest.param("distance", "cosine", "--distance", id="distance"),
        pytest.param("criterion", "auc", "--criterion", id="criterion"),
        pytest.param("align", "mtcnn", "--judge-align", id="align"),
    ],
)
def test_bad_judge_settings_name_the_option(field, value, flag):
    from v2f_bench.judges.registry import judge_class

    with pytest.raises(UserError, match=f"{flag} '{value}': choose one of"):
        judge_class(JudgeConfig(**{field: value}))


def test_an_unknown_judge_lists_the_registered_ones():
    from v2f_bench.judges.registry import judge_class

    with pytest.raises(UserError, match="trained, vggface2, casia-webface, dlib"):
        judge_class(JudgeConfig(kind="openface"))
