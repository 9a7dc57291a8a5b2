"""``cgan`` and ``rcgan``: a conditional DCGAN from voice embedding to face, without noise.

Generator (``g_channels`` = c = 64 as in the paper): FC(128, linear) -> FC(8c x S/16 x S/16)
-> BN -> ReLU -> ConvT 8c -> 4c -> 2c -> c -> 3 (4x4, stride 2; BN + ReLU between) -> tanh.
Discriminator (``d_channels`` = c): conv 3 -> c -> 2c -> 4c -> 8c (4x4, stride 2, LeakyReLU 0.2,
BN after all but the first) down to S/16 x S/16; the voice goes through Dense(128) + BN +
LeakyReLU, is tiled over that grid and concatenated; then a 3x3 conv (8c) + BN +
LeakyReLU and a dense layer to one logit (the code's 4x4 'same' conv needs uneven padding;
3x3 keeps it symmetric). The voice is the only input: the paper drops the
noise vector so that one voice gives one face.

Images enter the discriminator on the tanh scale [-1, 1] (real faces are rescaled from
[0, 1]); the authors' notebook fed real faces in [0, 1] against tanh fakes, which lets the
discriminator tell them apart by range alone. The adversarial loss is BCE with logits.

Labels: by default real = 1 and fake = 0. ``invert_labels`` swaps them, and
``label_smoothing`` = s moves every target (discriminator and generator alike) towards the
other label by a per-sample U(0, s); the authors' code is ``invert_labels=True,
label_smoothing=0.3``. Their discriminator loss also had a third term scoring the same real pair
as fake (likely meant as a mismatched-voice pair). ``mismatch`` chooses that term: ``"none"``
(default, the paper text: Mirza & Osindero's two-term loss), ``"same"`` (the authors' code as
written: the real pair is scored both real and fake) or ``"shuffled"`` (the matching-aware
discriminator, GAN-CLS of Reed et al. 2016: each real face with the voice of another window of the
batch, a random derangement, scored as fake; the batch carries no labels, so with few identities
some of those voices are the same identity's: about 1/9 on the default data). The term is added
with weight 1, as the code's third term was, and costs one more discriminator pass per step.

``init``: ``"torch"`` (default) keeps PyTorch's layer initialisation (neither the paper nor the code
states one; the code had Keras's glorot-uniform, of similar scale); ``"dcgan"`` draws conv and dense
weights from N(0, 0.02) and batch-norm scales from N(1, 0.02) (Radford et al. 2016).

``rcgan`` (paper: "RC-GAN") adds a pixel term to the generator loss, summed over the image's
pixels and averaged over the batch, weighted by ``pixel_weight``:
- ``pixel_loss="l1"`` (paper text): absolute error of the [0, 1] face;
- ``pixel_loss="bce"`` (authors' code): per-pixel sigmoid cross-entropy of the [0, 1] face
  against the target. It is computed with logits ``2 * a`` for the pre-tanh output ``a``,
  which is exact since ``(tanh(a) + 1) / 2 == sigmoid(2 a)`` and numerically stable. (The
  notebook applied it to the tanh output taken as logits, whose sigmoid can only span
  [0.27, 0.73].)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from v2f_bench.hyperparameters import Hyper
from v2f_bench.models.family import GeneratorFamily

VOICE_UNITS = 128
"""Width of the voice projections in both networks (paper and code: 128)."""


def _up(cin: int, cout: int, last: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
    return [conv] if last else [conv, nn.BatchNorm2d(cout), nn.ReLU()]


def _down(cin: int, cout: int, bn: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride=2, padding=1)]
    return layers + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.LeakyReLU(0.2)]


def _dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2016: conv and dense weights from N(0, 0.02), batch-norm scales from N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """(B, embed_dim) -> pre-tanh output (B, 3, S, S); the face in [0, 1] is ``sigmoid(2 * out)``."""

    def __init__(self, embed_dim: int, image_size: int, c: int):
        super().__init__()
        g = image_size // 16
        self.net = nn.Sequential(
            nn.Linear(embed_dim, VOICE_UNITS),
            nn.Linear(VOICE_UNITS, 8 * c * g * g),
            nn.BatchNorm1d(8 * c * g * g),
            nn.ReLU(),
            nn.Unflatten(1, (8 * c, g, g)),
            *_up(8 * c, 4 * c),
            *_up(4 * c, 2 * c),
            *_up(2 * c, c),
            *_up(c, 3, last=True),
        )

    def forward(self, voice: Tensor) -> Tensor:
        return self.net(voice)


class Discriminator(nn.Module):
    """(image in [-1, 1] (B, 3, S, S), voice (B, embed_dim)) -> logit (B,) that the pair is real."""

    def __init__(self, embed_dim: int, image_size: int, c: int):
        super().__init__()
        g = image_size // 16
        self.image = nn.Sequential(*_down(3, c, bn=False), *_down(c, 2 * c), *_down(2 * c, 4 * c), *_down(4 * c, 8 * c))
        self.voice = nn.Sequential(nn.Linear(embed_dim, VOICE_UNITS), nn.BatchNorm1d(VOICE_UNITS), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(
            nn.Conv2d(8 * c + VOICE_UNITS, 8 * c, 3, padding=1),
            nn.BatchNorm2d(8 * c),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(8 * c * g * g, 1),
        )

    def forward(self, image: Tensor, voice: Tensor) -> Tensor:
        feats = self.image(image)
        v = self.voice(voice)[:, :, None, None].expand(-1, -1, *feats.shape[2:])
        return self.joint(torch.cat([feats, v], dim=1)).squeeze(1)


MISMATCH_CHOICES = ("none", "shuffled", "same")
MISMATCH_DEFAULT = "none"


class CGAN(GeneratorFamily):
    """Conditional GAN without noise; one discriminator step then ``g_steps`` generator steps."""

    name = "cgan"
    defaults = {
        "g_lr": Hyper(1e-4, "generator Adam learning rate (paper: 1e-4)"),
        "d_lr": Hyper(2e-4, "discriminator Adam learning rate (paper: 2e-4)"),
        "beta1": Hyper(0.5, "Adam beta1 for both networks (authors' code: 0.5)"),
        "g_steps": Hyper(2, "generator steps per discriminator step (paper silent; authors' code: 2)", minimum=1),
        "label_smoothing": Hyper(0.0, "targets move towards the other label by U(0, s); 0 = hard (code: 0.3)"),
        "invert_labels": Hyper(False, "train with real = 0 and fake = 1 (authors' code: True)"),
        "g_channels": Hyper(64, "generator base width c: ConvT widths 8c-4c-2c-c-3 (paper: 64)"),
        "d_channels": Hyper(64, "discriminator base width c: conv widths c-2c-4c-8c (paper: 64)"),
        "init": Hyper("torch", "initial weights: torch's layer defaults, or DCGAN's N(0, 0.02) (BN weights N(1, 0.02))", ("torch", "dcgan")),
        "mismatch": Hyper(MISMATCH_DEFAULT, "third discriminator term: 'none', 'shuffled' (a real face with another window's voice, "
                          "scored as fake: GAN-CLS) or 'same' (the real pair scored as fake: the authors' code)", MISMATCH_CHOICES),
    }

    def build(self) -> None:
        hp, s = self.hparams, self.image_size
        if s % 16:
            raise ValueError(f"{self.name} needs an image_size divisible by 16, got {s}")
        if not 0.0 <= hp["label_smoothing"] < 0.5:
            raise ValueError(f"hyperparameter 'label_smoothing' must be in [0, 0.5), got {hp['label_smoothing']}")
        self.generator = Generator(self.embed_dim, s, hp["g_channels"])
        self.discriminator = Discriminator(self.embed_dim, s, hp["d_channels"])
        self.networks = {"generator": self.generator, "discriminator": self.discriminator}
        if hp["init"] == "dcgan":
            for net in self.networks.values():
                net.apply(_dcgan_init)
        betas = (hp["beta1"], 0.999)
        self.optimizers = {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=hp["g_lr"], betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=hp["d_lr"], betas=betas),
        }

    def _targets(self, real: bool, like: Tensor) -> Tensor:
        """Per-sample BCE targets for pairs the caller wants scored as ``real`` (or fake)."""
        one = real != self.hparams["invert_labels"]
        s = self.hparams["label_smoothing"]
        noise = torch.rand_like(like) * s if s else torch.zeros_like(like)
        return 1.0 - noise if one else noise

    def _extra_loss(self, pre_tanh: Tensor, face: Tensor) -> tuple[Tensor | float, dict[str, Tensor]]:
        """A term added to the generator loss, and the values to report; none for a plain C-GAN."""
        return 0.0, {}

    def _train_step(self, voice: Tensor, face: Tensor) -> dict[str, Tensor]:
        real = face * 2 - 1
        with torch.no_grad():
            fake = torch.tanh(self.generator(voice))
        d_real = self.discriminator(real, voice)
        d_fake = self.discriminator(fake, voice)
        d_loss = F.binary_cross_entropy_with_logits(d_real, self._targets(True, d_real)) + (
            F.binary_cross_entropy_with_logits(d_fake, self._targets(False, d_fake))
        )
        mismatch = self.hparams["mismatch"]
        if mismatch != "none":
            wrong = voice[self._derangement(voice.shape[0])] if mismatch == "shuffled" else voice
            d_wrong = self.discriminator(real, wrong)
            d_loss = d_loss + F.binary_cross_entropy_with_logits(d_wrong, self._targets(False, d_wrong))
        self._check_finite(d_loss=d_loss)
        self._step("discriminator", d_loss)

        for _ in range(self.hparams["g_steps"]):
            pre_tanh = self.generator(voice)
            logits = self.discriminator(torch.tanh(pre_tanh), voice)
            g_adv = F.binary_cross_entropy_with_logits(logits, self._targets(True, logits))
            extra, report = self._extra_loss(pre_tanh, face)
            g_loss = g_adv + extra
            self._check_finite(g_loss=g_loss)
            self._step("generator", g_loss)
        out = {"d_loss": d_loss, "g_loss": g_loss, "g_adv": g_adv, **report}
        return {k: v.detach() for k, v in out.items()}

    def _derangement(self, n: int) -> Tensor:
        """A random permutation of ``range(n)`` that moves every index (a shuffled order rolled by one)."""
        order = torch.randperm(n, device=self.device)
        out = torch.empty_like(order)
        out[order] = order.roll(1)
        return out

    def _step(self, which: str, loss: Tensor) -> None:
        opt = self.optimizers[which]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _generate(self, voice: Tensor) -> Tensor:
        return torch.sigmoid(2 * self.generator(voice))


class RCGAN(CGAN):
    """C-GAN whose generator loss adds ``pixel_weight`` x a pixel loss against the target face."""

    name = "rcgan"
    defaults = {
        **CGAN.defaults,
        "pixel_weight": Hyper(1.0, "weight of the pixel term, summed over pixels (code: 1)"),
        "pixel_loss": Hyper("l1", "'l1' (paper text) or 'bce' (authors' code) on the [0, 1] face", ("l1", "bce")),
    }

    def _extra_loss(self, pre_tanh: Tensor, face: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        batch = face.shape[0]
        if self.hparams["pixel_loss"] == "l1":
            pixel = (torch.sigmoid(2 * pre_tanh) - face).abs().sum() / batch
        else:
            pixel = F.binary_cross_entropy_with_logits(2 * pre_tanh, face, reduction="sum") / batch
        return self.hparams["pixel_weight"] * pixel, {"pixel": pixel}
