"""The family registry: the built-in names, helpful errors, and adding a family of your own."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from v2f_bench.models import registry
from v2f_bench.models.cgan import CGAN, RCGAN
from v2f_bench.models.diffusion import Diffusion
from v2f_bench.hyperparameters import Hyper
from v2f_bench.models.family import GeneratorFamily
from v2f_bench.models.mean_face import MeanFace
from v2f_bench.models.nearest_identity import NearestIdentity
from v2f_bench.models.registry import FAMILIES, get_family, register_family
from v2f_bench.models.vae import VAE


class TinyLinear(GeneratorFamily):
    """A whole family in a dozen lines: one linear layer from voice to pixels, trained on MSE."""

    name = "tiny-linear"
    defaults = {"lr": Hyper(0.1, "SGD learning rate")}

    def build(self) -> None:
        self.net = nn.Linear(self.embed_dim, 3 * self.image_size**2)
        self.networks = {"net": self.net}
        self.optimizers = {"sgd": torch.optim.SGD(self.net.parameters(), lr=self.hparams["lr"])}

    def _faces(self, voice: Tensor) -> Tensor:
        return torch.sigmoid(self.net(voice)).view(-1, 3, self.image_size, self.image_size)

    def _train_step(self, voice: Tensor, face: Tensor) -> dict[str, Tensor]:
        loss = F.mse_loss(self._faces(voice), face)
        self._check_finite(loss=loss)
        self.optimizers["sgd"].zero_grad()
        loss.backward()
        self.optimizers["sgd"].step()
        return {"loss": loss.detach()}

    def _generate(self, voice: Tensor) -> Tensor:
        return self._faces(voice)


@pytest.fixture
def tiny():
    """Register ``TinyLinear`` for one test and leave ``FAMILIES`` as it was."""
    assert register_family(TinyLinear) is TinyLinear
    yield TinyLinear
    del FAMILIES[TinyLinear.name]


def test_built_in_families():
    assert FAMILIES == {"vae": VAE, "cgan": CGAN, "rcgan": RCGAN, "diffusion": Diffusion, "mean-face": MeanFace, "nearest-identity": NearestIdentity}
    assert get_family("rcgan") is RCGAN
    assert issubclass(RCGAN, CGAN), "rcgan reuses cgan, adding only the pixel loss"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'gan'.*cgan, diffusion, mean-face, nearest-identity, rcgan, vae"):
        get_family("gan")


def test_a_registered_family_trains_through_the_common_interface(tiny):
    assert get_family("tiny-linear") is tiny
    family = get_family("tiny-linear")({"lr": 0.5}, image_size=16)
    torch.manual_seed(0)
    voice, face = torch.randn(4, 128), torch.rand(4, 3, 16, 16)
    losses = [family.train_step(voice, face)["loss"] for _ in range(20)]
    assert losses[-1] < losses[0]
    assert family.generate(voice).shape == (4, 3, 16, 16)
    clone = tiny({"lr": 0.5}, image_size=16)
    clone.load_state_dict(family.state_dict())
    assert torch.equal(clone.generate(voice), family.generate(voice))
    with pytest.raises(ValueError, match="'momentum'.*accepted: lr"):
        tiny({"momentum": 0.9})


def test_registration_guards_names(tiny):
    assert register_family(tiny) is tiny, "registering the same class again is harmless"

    class Impostor(TinyLinear):
        name = "vae"

    class Nameless(TinyLinear):
        name = ""

    with pytest.raises(ValueError, match="already registered to VAE"):
        register_family(Impostor)
    with pytest.raises(ValueError, match="no `name`"):
        register_family(Nameless)
    with pytest.raises(ValueError, match="not a GeneratorFamily"):
        register_family(nn.Linear)
    assert registry.FAMILIES["vae"] is VAE
