"""Every generator family through the common interface: shapes, learning, checkpoints and errors.

Configs here shrink the GANs (base width 8 instead of 64) and raise
learning rates so that a few CPU steps show learning; the defaults are the paper's (diffusion's: the laptop's).
"""

from __future__ import annotations

import pytest
import torch

from v2f_bench.models.family import GeneratorFamily
from v2f_bench.models.registry import FAMILIES

SMALL_GAN = {"g_channels": 8, "d_channels": 8}
FAST = {
    "vae": {"lr": 1e-2},
    "cgan": SMALL_GAN,
    "rcgan": {**SMALL_GAN, "g_lr": 5e-3},
    "rcgan-bce": {**SMALL_GAN, "g_lr": 5e-3, "pixel_loss": "bce"},
    "cgan-code-labels": {**SMALL_GAN, "invert_labels": True, "label_smoothing": 0.3},
    "cgan-shuffled": {**SMALL_GAN, "mismatch": "shuffled"},
    "cgan-same": {**SMALL_GAN, "mismatch": "same"},
    "cgan-dcgan": {**SMALL_GAN, "init": "dcgan"},
    "diffusion": {"lr": 3e-3, "steps": 4},
    "diffusion-guided": {"channels": 8, "lr": 3e-3, "steps": 4, "guidance": 2.0, "cond_drop": 0.2},
}
"""Test configs by id; the family is the id's part before the first '-'."""


def make(case: str, **overrides) -> GeneratorFamily:
    return FAMILIES[case.split("-")[0]]({**FAST[case], **overrides})


def three_faces() -> torch.Tensor:
    """Three distinct targets in [0, 1]: one dominant colour each and a bar at a different place."""
    faces = torch.full((3, 3, 64, 64), 0.1)
    for k in range(3):
        faces[k, k] = 0.9
        faces[k, :, 16:48, 16 + 8 * k : 32 + 8 * k] = 0.8
    return faces


def batches(n_steps: int, voices: torch.Tensor, faces: torch.Tensor, seed: int = 0, size: int = 8):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_steps):
        idx = torch.randint(0, len(faces), (size,), generator=g)
        yield voices[idx], faces[idx]


@pytest.fixture
def data():
    torch.manual_seed(0)
    return torch.randn(3, 128), three_faces()


@pytest.mark.parametrize("case", list(FAST))
def test_generate_gives_faces_in_unit_range(case, data):
    voices, _ = data
    out = make(case).generate(voices)
    assert out.shape == (3, 3, 64, 64)
    assert out.min() >= 0 and out.max() <= 1
    assert not out.requires_grad


@pytest.mark.parametrize(("case", "steps"), [("vae", 25), ("rcgan", 25), ("rcgan-bce", 25), ("diffusion", 50)])
def test_training_brings_generated_faces_towards_their_targets(case, steps, data):
    """A few steps on three faces bring the generated faces 10 % closer to them (diffusion learns a velocity field from one
    random time per face and step: it needs more steps)."""
    voices, faces = data
    family = make(case)

    def pixel_error():
        return float((family.generate(voices) - faces).abs().mean())

    before = pixel_error()
    for voice, face in batches(steps, voices, faces):
        losses = family.train_step(voice, face)
    assert all(isinstance(v, float) for v in losses.values())
    assert pixel_error() < 0.9 * before


@pytest.mark.parametrize("case", ["cgan", "cgan-code-labels", "cgan-shuffled", "cgan-same", "cgan-dcgan"])
def test_cgan_step_is_finite_and_moves_both_networks(case, data):
    voices, faces = data
    family = make(case)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in family.networks.items()}
    for voice, face in batches(3, voices, faces):
        losses = family.train_step(voice, face)
    assert set(losses) == {"d_loss", "g_loss", "g_adv"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    for k, net in family.networks.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], net.parameters())), k


@pytest.mark.parametrize("case", list(FAST))
def test_restored_state_continues_exactly_like_the_original(case, data):
    voices, faces = data
    steps = list(batches(4, voices, faces))
    torch.manual_seed(1)
    original = make(case)
    for voice, face in steps[:3]:
        original.train_step(voice, face)
    state = original.state_dict()

    torch.manual_seed(2)  # a different initialisation, overwritten by the load
    restored = make(case)
    restored.load_state_dict(state)

    results = []
    for family in (original, restored):
        torch.manual_seed(3)  # the step may draw noise (VAE sampling, label smoothing)
        results.append(family.train_step(*steps[3]))
    assert results[0] == results[1]
    for k in original.networks:
        for (name, a), b in zip(original.networks[k].state_dict().items(), restored.networks[k].state_dict().values()):
            assert torch.equal(a, b), f"{k}.{name}"
    assert torch.equal(original.generate(voices), restored.generate(voices))


def test_state_dict_is_a_snapshot_not_a_view(data):
    voices, faces = data
    family = make("vae")
    state = family.state_dict()
    family.train_step(voices, faces)
    weight = family.networks["decoder"].state_dict()["0.weight"]
    assert not torch.equal(state["networks"]["decoder"]["0.weight"], weight)


def test_state_of_another_family_or_config_is_refused(data):
    with pytest.raises(ValueError, match="family 'vae'"):
        make("cgan").load_state_dict(make("vae").state_dict())
    with pytest.raises(ValueError, match="g_lr"):
        make("rcgan").load_state_dict(make("rcgan", g_lr=1e-3).state_dict())


@pytest.mark.parametrize("case", ["vae", "cgan", "rcgan", "diffusion"])
def test_nan_input_raises_floating_point_error_before_any_update(case, data):
    voices, faces = data
    family = make(case)
    before = family.state_dict()["networks"]
    voices = voices.clone()
    voices[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        family.train_step(voices, faces)
    after = family.state_dict()["networks"]
    for k in before:
        for name in before[k]:
            if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                assert torch.equal(before[k][name], after[k][name]), f"{k}.{name}"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_unknown_or_invalid_hyperparameters_are_named(name):
    cls = FAMILIES[name]
    with pytest.raises(ValueError, match="'learning_rate'.*accepted: "):
        cls({"learning_rate": 1e-3})
    if not cls.defaults:
        return  # a family with no hyperparameters of its own (mean-face)
    first = next(iter(cls.defaults))
    with pytest.raises(ValueError, match=f"{first}: expected"):
        cls({first: "high"})


def test_hyperparameters_are_documented_and_coerced():
    for cls in FAMILIES.values():
        for key, (default, doc) in cls.describe().items():
            assert doc, f"{cls.name}.{key} has no doc"
    gan = FAMILIES["rcgan"]({**SMALL_GAN, "g_steps": 1.0, "pixel_weight": 2})
    assert gan.hparams["g_steps"] == 1 and isinstance(gan.hparams["g_steps"], int)
    assert gan.hparams["pixel_weight"] == 2.0
    with pytest.raises(ValueError, match="'l1', 'bce'"):
        FAMILIES["rcgan"]({"pixel_loss": "l2"})
    with pytest.raises(ValueError, match="g_steps"):
        FAMILIES["cgan"]({"g_steps": 0})


def test_wrong_batch_shapes_are_explained(data):
    voices, faces = data
    family = make("vae")
    with pytest.raises(ValueError, match=r"\(B, 128\)"):
        family.generate(voices[:, :64])
    with pytest.raises(ValueError, match=r"\(3, 3, 64, 64\)"):
        family.train_step(voices, faces[:, :, :32, :32])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case", ["vae", "rcgan", "diffusion"])
def test_runs_on_cuda(case, data):
    voices, faces = data
    family = FAMILIES[case](FAST[case], device="cuda")
    family.train_step(voices, faces)
    out = family.generate(voices)
    assert out.device.type == "cuda" and out.shape == (3, 3, 64, 64)


@pytest.mark.parametrize(("mismatch", "calls"), [("none", 2), ("shuffled", 3), ("same", 3)])
def test_mismatch_adds_one_discriminator_term_on_the_real_faces(mismatch, calls, data):
    """The discriminator step scores (real, voice) and (fake, voice), plus (real, other voice) under
    'shuffled' (GAN-CLS) or (real, the same voice) under 'same' (the authors' code), both as fake."""
    _, faces = data
    family = make("cgan", mismatch=mismatch, g_steps=1)
    seen = []
    family.discriminator.register_forward_hook(lambda module, args, out: seen.append((args[0].detach(), args[1].detach())))
    voice, face = torch.randn(8, 128), faces[torch.arange(8) % 3]  # eight distinct voices
    family.train_step(voice, face)
    d_step = seen[:-1]  # the last call is the generator step's
    assert len(d_step) == calls
    if mismatch != "none":
        image, wrong = d_step[2]
        assert torch.equal(image, face * 2 - 1)
        if mismatch == "same":
            assert torch.equal(wrong, voice)
        else:  # every row gets another row's voice
            assert sorted(map(tuple, wrong.tolist())) == sorted(map(tuple, voice.tolist()))
            assert all(not torch.equal(w, v) for w, v in zip(wrong, voice))


def test_derangement_moves_every_index():
    family = make("cgan")
    for n in (2, 3, 64):
        for _ in range(20):
            perm = family._derangement(n)
            assert sorted(perm.tolist()) == list(range(n))
            assert bool((perm != torch.arange(n)).all())


def test_dcgan_init_draws_weights_from_n_0_002():
    torch.manual_seed(0)
    family = make("cgan", init="dcgan", g_channels=16, d_channels=16)
    for net in family.networks.values():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear):
                assert abs(float(module.weight.detach().std()) - 0.02) < 0.005
                assert not module.bias.any()
            if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                assert abs(float(module.weight.detach().mean()) - 1.0) < 0.01
    torch.manual_seed(0)
    default = make("cgan", g_channels=16, d_channels=16)  # torch's layer defaults, as before
    assert abs(float(default.generator.net[0].weight.detach().std()) - 0.02) > 0.01
