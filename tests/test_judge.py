"""The face judge: pairs, tau calibration, verification, pretrained weights from local files only, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v2f_bench.errors import UserError
from v2f_bench.judge import (
    JudgeConfig,
    calibrate,
    embed_faces,
    load_pretrained,
    pair_verification,
    tau_grid,
    train_judge,
    unordered_pairs,
)


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


def test_missing_pretrained_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as error:
        load_pretrained(JudgeConfig(kind="vggface2"))
    message = str(error.value)
    assert str(tmp_path / "checkpoints" / "20180402-114759-vggface2.pt") in message and "--judge trained" in message


def test_a_file_that_is_not_judge_weights_is_refused(tmp_path):
    bad = tmp_path / "weights.pt"
    torch.save({"something": torch.zeros(3)}, bad)
    with pytest.raises(UserError, match="not facenet-pytorch casia-webface weights"):
        load_pretrained(JudgeConfig(kind="casia-webface", weights=str(bad)))


@pytest.mark.slow
def test_pretrained_weights_load_from_a_local_file_without_download(tmp_path, monkeypatch):
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    reference = InceptionResnetV1(classify=True, num_classes=10575).eval()
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / "20180408-102900-casia-webface.pt")
    reference.classify = False
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = load_pretrained(JudgeConfig(kind="casia-webface"))
    faces = np.random.default_rng(0).integers(0, 256, size=(2, 96, 96, 3), dtype=np.uint8)
    assert torch.allclose(embed_faces(net, faces), embed_faces(reference, faces), atol=1e-6)


def test_a_trained_judge_embeds_faces_as_unit_vectors():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(8, 96, 96, 3), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    epochs = []
    net = train_judge(faces, labels, JudgeConfig(epochs=2, batch_size=4), report=lambda e, loss, acc: epochs.append((e, loss, acc)))
    assert [e for e, _, _ in epochs] == [1, 2] and all(np.isfinite(loss) for _, loss, _ in epochs)
    emb = embed_faces(net, faces)
    assert emb.shape == (8, 512)
    assert torch.allclose(emb.norm(dim=1), torch.ones(8), atol=1e-5)


@pytest.mark.parametrize(
    "field, value, flag",
    [
        pytest.param("kind", "openface", "--judge", id="kind"),
        pytest.param("distance", "cosine", "--distance", id="distance"),
        pytest.param("criterion", "auc", "--criterion", id="criterion"),
    ],
)
def test_bad_judge_settings_name_the_option(field, value, flag):
    with pytest.raises(UserError, match=flag):
        JudgeConfig(**{field: value}).validate()
