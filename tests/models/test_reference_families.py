"""The reference families, reached through the registry only: ``mean-face`` (one face for every voice) and
``nearest-identity`` (the mean face of the training identity whose voice is nearest). They are fitted once, not trained."""

from __future__ import annotations

import pytest
import torch

from v2f_bench.models.registry import FAMILIES, get_family


def fitting_data():
    """Three identities: voices clustered around three directions, two photos each of a distinct flat colour."""
    torch.manual_seed(0)
    centres = torch.eye(3, 8) * 5
    labels = torch.arange(3).repeat_interleave(4)
    voice = centres[labels] + 0.1 * torch.randn(12, 8)
    face_labels = torch.arange(3).repeat_interleave(2)
    faces = torch.zeros(6, 3, 64, 64)
    for k, c in enumerate(face_labels):
        faces[k, c] = 0.4 + 0.2 * (k % 2)  # the identity's two photos differ in brightness: their mean is 0.5
    return centres, voice, labels, faces, face_labels


def fitted(name: str, **config):
    centres, voice, labels, faces, face_labels = fitting_data()
    family = get_family(name)(config, embed_dim=8)
    family.fit(voice, labels, faces, face_labels)
    return family


@pytest.mark.parametrize("name", ["mean-face", "nearest-identity"])
def test_reference_families_are_registered_and_marked_as_references(name):
    assert FAMILIES[name].name == name and FAMILIES[name].reference
    assert not any(FAMILIES[trained].reference for trained in ("vae", "cgan", "rcgan"))


def test_mean_face_gives_every_voice_the_mean_training_photo():
    _, _, _, faces, _ = fitting_data()
    family = fitted("mean-face")
    out = family.generate(torch.randn(5, 8))
    assert out.shape == (5, 3, 64, 64)
    assert torch.allclose(out, faces.mean(0, keepdim=True).expand(5, -1, -1, -1))


def test_nearest_identity_gives_the_mean_face_of_the_identity_whose_voice_centroid_is_nearest():
    centres, *_ = fitting_data()
    out = fitted("nearest-identity").generate(centres[[2, 0]] + 0.3)
    assert torch.allclose(out[0, 2], torch.full((64, 64), 0.5)) and out[0, :2].abs().max() == 0, "identity 2's mean face"
    assert torch.allclose(out[1, 0], torch.full((64, 64), 0.5)) and out[1, 1:].abs().max() == 0, "identity 0's mean face"


def test_nearest_identity_with_two_neighbours_averages_their_mean_faces():
    centres, *_ = fitting_data()
    out = fitted("nearest-identity", neighbours=2).generate((centres[1] + 0.9 * centres[2]).unsqueeze(0))
    assert torch.allclose(out[0, 1], torch.full((64, 64), 0.25)) and torch.allclose(out[0, 2], torch.full((64, 64), 0.25))


@pytest.mark.parametrize("name", ["mean-face", "nearest-identity"])
def test_a_fitted_reference_survives_a_checkpoint_into_a_fresh_instance(name):
    family = fitted(name)
    fresh = get_family(name)({}, embed_dim=8)
    fresh.load_state_dict(family.state_dict())
    voices = torch.randn(4, 8)
    assert torch.equal(fresh.generate(voices), family.generate(voices))


def test_a_reference_is_not_trained_by_steps():
    with pytest.raises(TypeError, match="fitted once"):
        fitted("mean-face").train_step(torch.randn(2, 8), torch.rand(2, 3, 64, 64))
