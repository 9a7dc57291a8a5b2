"""The judge's threshold and settings: pairs, tau calibration, verification, JudgeConfig checks.

The judges themselves are tested in ``tests/judges/``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig, calibrate, pair_verification, photo_pairs, tau_grid


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
    i, j, same, total = photo_pairs([0, 0, 1, 1, 1])
    assert len(i) == 5 * 4 // 2
    assert (i < j).all()
    assert same.sum() == 1 + 3 and total == 10


def test_above_the_cap_pairs_are_a_seeded_uniform_sample_of_distinct_pairs():
    labels = np.repeat(np.arange(50), 6)  # 300 photos, 44,850 pairs, 750 of them of one identity
    i, j, same, total = photo_pairs(labels, limit=5000, seed=3)
    assert total == 300 * 299 // 2 and len(i) == 5000
    assert (i < j).all() and (j < 300).all()
    assert len(set(zip(i.tolist(), j.tolist()))) == 5000, "distinct pairs"
    np.testing.assert_array_equal(same, labels[i] == labels[j])
    assert same.mean() == pytest.approx(750 / total, rel=0.35), "keeps the share of same-identity pairs"
    again = photo_pairs(labels, limit=5000, seed=3)
    np.testing.assert_array_equal(again[0], i)
    every = set(zip(*np.triu_indices(300, k=1)))
    assert set(zip(i.tolist(), j.tolist())) <= {(int(a), int(b)) for a, b in every}


def test_a_calibration_on_a_sample_states_its_n_and_the_pairs_there_were(monkeypatch):
    import v2f_bench.judge as judge_module

    emb, labels = embeddings_at_distances(0.3, 2.0)
    monkeypatch.setattr(judge_module, "MAX_PAIRS", 20)
    calibration = calibrate(emb, labels, distance="sq_l2", criterion="accuracy", step=0.01)
    assert (calibration.n_pairs, calibration.pairs_in_split) == (20, 36)
    assert calibration.tau == pytest.approx(0.31)


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
