"""``diffusion``: a conditional flow-matching model from voice embedding to face, sampled in a few Euler steps.

The field's line since 2023 (SLF, Vox2Face) conditions a diffusion model on a speaker embedding; this is the smallest
member of that line that trains on a laptop, so that a study can set it beside the paper's families at equal compute.

**Objective: flow matching on straight paths** (Lipman et al. 2023; Liu et al. 2023, "rectified flow"). For a face x1 on
[-1, 1], noise x0 ~ N(0, I) and t ~ U(0, 1), the model sees x_t = (1 - t) x0 + t x1 and is trained to predict the velocity
x1 - x0: loss = mean over pixels and batch of (v(x_t, t, voice) - (x1 - x0))^2. Chosen over DDPM noise prediction because
its sampler is an ODE along nearly straight paths: a deterministic Euler sampler works in a few steps with no noise
schedule to choose, where DDPM needs a beta schedule and DDIM's re-parameterisation to sample in few steps.

**Sampler: Euler** from t = 0 to 1 in ``steps`` equal steps, x <- x + v(x, t, voice) / steps, then the face is
(x + 1) / 2 clamped to [0, 1]. The start x0 is one fixed noise image (drawn from ``noise_seed``) for every voice, so one
voice gives one face, as in the other families (the VAE decodes its mean, the GANs have no noise).

**Classifier-free guidance** (Ho & Salimans 2022): with ``cond_drop`` p > 0, each training voice is replaced by a learned
null condition with probability p; at sampling, v = v_null + w (v_voice - v_null) with ``guidance`` w. w = 1 is the
conditional model alone (one network pass per step); any other w costs a second pass per step, which the sampling FLOPs
count (``ComputeMeter.per_face``, reported as ``sample_flops``).

**Network: a small UNet** (Ronneberger et al. 2015) on a grid of S / ``patch`` (the image is cut into patch x patch
pixel cells by a strided conv, and put back by a transposed one): residual blocks of GroupNorm, SiLU and 3x3 convs at
widths c, 2c and 4c (c = ``channels``) over three resolutions, skips joined by concatenation; the time (sinusoidal
features) and the voice (a linear projection) are summed into one condition vector that each block adds to its
channels. No EMA of the weights: the short laptop budgets end before an average would settle.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from v2f_bench.hyperparameters import Hyper
from v2f_bench.models.family import GeneratorFamily

GROUPS = 8
"""GroupNorm groups (every width is a multiple of 8)."""


def time_features(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features (B, dim) of times t in [0, 1] (B,): sin and cos of 1000 t at ``dim / 2`` frequencies
    10000^(-k / (dim / 2)), k = 0 ... dim / 2 - 1 (Vaswani et al. 2017's positions, as diffusion models embed their step)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t[:, None].float() * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Block(nn.Module):
    """Residual block: GN-SiLU-conv3x3, plus the condition projected to the channels, GN-SiLU-conv3x3; 1x1 skip when widths differ."""

    def __init__(self, cin: int, cout: int, cond: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(GROUPS, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.cond = nn.Linear(cond, cout)
        self.norm2, self.conv2 = nn.GroupNorm(GROUPS, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.cond(cond)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(nn.Module):
    """(x_t (B, 3, S, S), t (B,), voice (B, D) or None for the null condition) -> velocity (B, 3, S, S)."""

    def __init__(self, embed_dim: int, channels: int, patch: int):
        super().__init__()
        c, e = channels, 4 * channels
        self.time = nn.Sequential(nn.Linear(c, e), nn.SiLU(), nn.Linear(e, e))
        self.voice = nn.Linear(embed_dim, e)
        self.null = nn.Parameter(torch.zeros(e))
        self.stem = nn.Conv2d(3, c, patch, stride=patch)
        self.down0, self.reduce0 = Block(c, c, e), nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.down1, self.reduce1 = Block(2 * c, 2 * c, e), nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1)
        self.middle = Block(4 * c, 4 * c, e)
        self.expand1, self.up1 = nn.Conv2d(4 * c, 2 * c, 3, padding=1), Block(4 * c, 2 * c, e)
        self.expand0, self.up0 = nn.Conv2d(2 * c, c, 3, padding=1), Block(2 * c, c, e)
        self.out_norm, self.head = nn.GroupNorm(GROUPS, c), nn.ConvTranspose2d(c, 3, patch, stride=patch)
        self.channels = c

    def condition(self, t: Tensor, voice: Tensor | None, drop: Tensor | None = None) -> Tensor:
        """The condition vector: time features plus the voice's projection, or the null condition where ``drop`` is
        True (or everywhere when ``voice`` is None)."""
        time = self.time(time_features(t, self.channels))
        if voice is None:
            return time + self.null
        projected = self.voice(voice)
        if drop is not None:
            projected = torch.where(drop[:, None], self.null.expand_as(projected), projected)
        return time + projected

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        cond = F.silu(cond)
        h0 = self.down0(self.stem(x), cond)
        h1 = self.down1(self.reduce0(h0), cond)
        h = self.middle(self.reduce1(h1), cond)
        h = self.up1(torch.cat([self.expand1(F.interpolate(h, scale_factor=2.0, mode="nearest")), h1], dim=1), cond)
        h = self.up0(torch.cat([self.expand0(F.interpolate(h, scale_factor=2.0, mode="nearest")), h0], dim=1), cond)
        return self.head(F.silu(self.out_norm(h)))


class Diffusion(GeneratorFamily):
    """Voice embedding -> face by flow matching with a small conditional UNet, sampled by ``steps`` Euler steps."""

    name = "diffusion"
    defaults = {
        "lr": Hyper(5e-4, "Adam learning rate"),
        "channels": Hyper(16, "UNet base width c: blocks of c, 2c and 4c channels", minimum=8),
        "patch": Hyper(2, "side of the pixel cells the UNet's grid is made of: it works on S / patch (1 = every pixel)", (1, 2, 4)),
        "steps": Hyper(8, "Euler steps of the sampler: each is one network pass per face (two with guidance != 1)", minimum=1),
        "guidance": Hyper(1.0, "classifier-free guidance w: v_null + w (v_voice - v_null); 1 = the conditional model alone"),
        "cond_drop": Hyper(0.1, "probability that a training voice is replaced by the null condition (needed for guidance)"),
        "noise_seed": Hyper(0, "seed of the one noise image every face is sampled from", minimum=0),
    }

    def build(self) -> None:
        hp, s = self.hparams, self.image_size
        if hp["channels"] % GROUPS:
            raise ValueError(f"hyperparameter 'channels' must be a multiple of {GROUPS}, got {hp['channels']}")
        if s % (4 * hp["patch"]):
            raise ValueError(f"diffusion needs an image_size divisible by 4 x patch ({4 * hp['patch']}), got {s}")
        if not 0.0 <= hp["cond_drop"] < 1.0:
            raise ValueError(f"hyperparameter 'cond_drop' must be in [0, 1), got {hp['cond_drop']}")
        if hp["guidance"] != 1.0 and hp["cond_drop"] == 0.0:
            raise ValueError(f"hyperparameter 'guidance' {hp['guidance']} needs 'cond_drop' > 0 (got 0): the null condition is never trained otherwise")
        self.unet = UNet(self.embed_dim, hp["channels"], hp["patch"])
        self.networks = {"unet": self.unet}
        self.optimizers = {"adam": torch.optim.Adam(self.unet.parameters(), lr=hp["lr"])}
        noise = torch.Generator().manual_seed(int(hp["noise_seed"]))
        self.start = torch.randn((1, 3, s, s), generator=noise).to(self.device)

    def _train_step(self, voice: Tensor, face: Tensor) -> dict[str, Tensor]:
        x1 = face * 2 - 1
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=self.device)
        xt = (1 - t)[:, None, None, None] * x0 + t[:, None, None, None] * x1
        drop = torch.rand(x1.shape[0], device=self.device) < self.hparams["cond_drop"]
        velocity = self.unet(xt, self.unet.condition(t, voice, drop))
        loss = F.mse_loss(velocity, x1 - x0)
        self._check_finite(loss=loss)
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    def _velocity(self, x: Tensor, t: Tensor, voice: Tensor) -> Tensor:
        w = self.hparams["guidance"]
        if w == 1.0:
            return self.unet(x, self.unet.condition(t, voice))
        both = self.unet(torch.cat([x, x]), torch.cat([self.unet.condition(t, voice), self.unet.condition(t, None)]))
        conditional, unconditional = both.chunk(2)
        return unconditional + w * (conditional - unconditional)

    def _generate(self, voice: Tensor) -> Tensor:
        steps = self.hparams["steps"]
        x = self.start.expand(voice.shape[0], -1, -1, -1).clone()
        for k in range(steps):
            t = torch.full((voice.shape[0],), k / steps, device=self.device)
            x = x + self._velocity(x, t, voice) / steps
        return ((x + 1) / 2).clamp(0, 1)
