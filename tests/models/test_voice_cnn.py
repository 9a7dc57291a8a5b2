"""The voice classifier: shapes of both paper variants, its embedding, its L2 term, and that it learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from v2f_bench.models.voice_cnn import VoiceCNN, clip_embeddings

VARIANTS = ["paper-text", "paper-code"]


def windows(n: int) -> torch.Tensor:
    """Voice windows as the data stage stores them: (n, 60 bands, 41 frames, [log-mel, delta])."""
    return torch.randn(n, 60, 41, 2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_embedding_size(variant):
    model = VoiceCNN(n_classes=5, variant=variant).eval()
    x = windows(4)
    assert model(x).shape == (4, 5)
    emb = model.embed(x)
    assert emb.shape == (4, 128)
    assert (emb < 0).any(), "the embedding is taken before the ReLU, so it has negative values"
    assert torch.allclose(model(x), model.head(torch.relu(emb)), atol=1e-6), "embed feeds the last FC"


def test_rejects_channels_first_input_and_unknown_variant():
    with pytest.raises(ValueError, match=r"\(B, 60, 41, 2\)"):
        VoiceCNN(3)(torch.randn(2, 2, 60, 41))
    with pytest.raises(ValueError, match="paper-text"):
        VoiceCNN(3, variant="paper")


def test_l2_penalty_is_keras_style_on_fc_kernels_for_paper_text_only():
    model = VoiceCNN(3, "paper-text")
    expected = 1e-3 * sum(fc.weight.square().sum() for fc in (model.fc1, model.fc2, model.head))
    assert torch.allclose(model.l2_penalty(), expected)
    assert float(VoiceCNN(3, "paper-code").l2_penalty()) == 0.0


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_few_adam_steps_lower_the_loss_on_a_learnable_batch(variant):
    torch.manual_seed(0)
    labels = torch.arange(3).repeat_interleave(6)
    x = windows(len(labels)) + labels[:, None, None, None].float()  # class k is shifted by k
    model = VoiceCNN(3, variant)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss():
        return F.cross_entropy(model(x), labels)

    model.eval()
    with torch.no_grad():
        before = float(loss())
    model.train()
    for _ in range(8):
        opt.zero_grad()
        (loss() + model.l2_penalty()).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = float(loss())
    assert after < 0.75 * before


def test_clip_embeddings_average_the_windows_of_each_clip():
    model = VoiceCNN(3, "paper-code")
    x = windows(5)
    clip = [1, 0, 1, 2, 2]
    got = clip_embeddings(model, x.numpy(), clip, batch_size=2)
    with torch.no_grad():
        emb = model.eval().embed(x)
    assert got.shape == (3, 128)
    assert torch.allclose(got[0], emb[1], atol=1e-5)
    assert torch.allclose(got[1], (emb[0] + emb[2]) / 2, atol=1e-5)
    assert torch.allclose(got[2], (emb[3] + emb[4]) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="clips without windows"):
        clip_embeddings(model, x, clip, n_clips=4)
