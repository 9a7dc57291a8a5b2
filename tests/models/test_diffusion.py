"""The diffusion family's own behaviour: its sampling cost counted by hand, guidance, both image sizes, and its errors.

The family contract (shapes, learning, checkpoints, NaN inputs) is tested with every family in ``test_families.py``.
"""

from __future__ import annotations

import pytest
import torch

from v2f_bench.compute import ComputeMeter
from v2f_bench.models.registry import get_family

EMBED, SIDE, C, PATCH = 16, 16, 8, 4
"""A tiny diffusion model: 16-d voices, 16x16 faces, base width 8, 4x4 patches (a 4x4 grid)."""


def linear(n_in: int, n_out: int) -> int:
    return 2 * n_in * n_out


def conv(c_in: int, c_out: int, k: int, out_side: int) -> int:
    """2 FLOPs per multiply-add, one per weight and output position."""
    return 2 * c_in * c_out * k * k * out_side * out_side


def block(c_in: int, c_out: int, side: int) -> int:
    skip = conv(c_in, c_out, 1, side) if c_in != c_out else 0
    return conv(c_in, c_out, 3, side) + linear(4 * C, c_out) + conv(c_out, c_out, 3, side) + skip


def unet_pass() -> int:
    """One UNet pass on one face by hand: the grid is 4x4, then 2x2, then 1x1."""
    g = SIDE // PATCH
    return (conv(3, C, PATCH, g)                                        # stem: patches -> C channels
            + block(C, C, g) + conv(C, 2 * C, 3, g // 2)                # down0, reduce0
            + block(2 * C, 2 * C, g // 2) + conv(2 * C, 4 * C, 3, g // 4)  # down1, reduce1
            + block(4 * C, 4 * C, g // 4)                               # middle
            + conv(4 * C, 2 * C, 3, g // 2) + block(4 * C, 2 * C, g // 2)  # expand1, up1
            + conv(2 * C, C, 3, g) + block(2 * C, C, g)                 # expand0, up0
            + 2 * C * 3 * PATCH * PATCH * g * g)                        # head: transposed conv back to pixels


TIME = linear(C, 4 * C) + linear(4 * C, 4 * C)
VOICE = linear(EMBED, 4 * C)


def tiny(**config):
    return get_family("diffusion")({"channels": C, "patch": PATCH, **config}, embed_dim=EMBED, image_size=SIDE)


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_sampling_flops_are_one_network_pass_per_step(steps):
    family = tiny(steps=steps)
    meter = ComputeMeter(1, 0)
    flops = meter.per_face(lambda: family.generate(torch.randn(1, EMBED)))
    assert flops == steps * (unet_pass() + TIME + VOICE)
    assert meter.eval_flops == flops, "the measuring pass is evaluation compute"


def test_guidance_costs_a_second_pass_per_step():
    """With guidance != 1 every step runs the voice-conditioned and the null-conditioned model: two UNet passes and
    two time embeddings, one voice projection."""
    family = tiny(steps=4, guidance=3.0, cond_drop=0.1)
    flops = ComputeMeter(1, 0).per_face(lambda: family.generate(torch.randn(1, EMBED)))
    assert flops == 4 * (2 * unet_pass() + 2 * TIME + VOICE)


def test_one_voice_gives_one_face_and_guidance_changes_it():
    torch.manual_seed(0)
    family = tiny(cond_drop=0.5)
    voices = torch.randn(3, EMBED)
    faces = family.generate(voices)
    assert torch.equal(faces, family.generate(voices)), "the sampler is deterministic"
    assert torch.allclose(faces[1:2], family.generate(voices[1:2]), atol=1e-5), "a face does not depend on the rest of the batch"
    torch.manual_seed(0)
    guided = get_family("diffusion")({"channels": C, "patch": PATCH, "cond_drop": 0.5, "guidance": 3.0}, embed_dim=EMBED, image_size=SIDE)
    assert not torch.equal(faces, guided.generate(voices))


def test_noise_seed_chooses_the_start():
    assert not torch.equal(tiny(noise_seed=0).start, tiny(noise_seed=1).start)
    assert torch.equal(tiny(noise_seed=1).start, tiny(noise_seed=1).start)


@pytest.mark.parametrize("side", [32, 64])
def test_works_at_the_laptop_and_the_paper_resolution(side):
    family = get_family("diffusion")({"channels": 8}, embed_dim=EMBED, image_size=side)
    voices, faces = torch.randn(4, EMBED), torch.rand(4, 3, side, side)
    losses = family.train_step(voices, faces)
    assert set(losses) == {"loss"} and torch.isfinite(torch.tensor(losses["loss"]))
    out = family.generate(voices)
    assert out.shape == (4, 3, side, side) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_training_learns_the_velocity_of_one_face():
    """On one face and one voice the flow-matching loss falls (mean of 10 steps, after 100 steps against the first 10)."""
    torch.manual_seed(0)
    family = tiny(lr=3e-3, cond_drop=0.0)
    voice, face = torch.randn(8, EMBED), torch.rand(1, 3, SIDE, SIDE).expand(8, -1, -1, -1)
    losses = [family.train_step(voice, face)["loss"] for _ in range(100)]
    assert sum(losses[-10:]) < 0.9 * sum(losses[:10])


@pytest.mark.parametrize(("config", "message"), [
    ({"channels": 12}, "multiple of 8"),
    ({"patch": 3}, "patch"),
    ({"guidance": 2.0, "cond_drop": 0.0}, "cond_drop"),
    ({"cond_drop": 1.0}, r"\[0, 1\)"),
])
def test_bad_settings_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        get_family("diffusion")(config, embed_dim=EMBED, image_size=SIDE)


def test_image_size_must_fit_the_grid():
    with pytest.raises(ValueError, match="divisible by 4 x patch"):
        get_family("diffusion")({"patch": 4}, embed_dim=EMBED, image_size=24)
