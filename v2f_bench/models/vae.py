"""``vae``: a conditional VAE-like decoder from voice embedding to face (paper section IV-B).

Encoder: two FC layers (``hidden_units``, ReLU) -> mean and log-variance of a ``latent_dim``
Gaussian. Decoder: FC -> (32, S/4, S/4) -> ReLU -> ConvT 5x5/2 -> ``decoder_channels`` -> ReLU
-> ConvT 5x5/2 -> 3 channels -> sigmoid. The decoder emits logits so that the per-pixel
binary cross-entropy is computed stably; ``generate`` applies the sigmoid.

Differences from the authors' notebook, on purpose: their KL term used ``exp(2 * logstd)``
while sampling with ``exp(0.5 * logstd)`` (inconsistent); here the closed form
``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)`` matches the sampling. Their generation
sampled z; ``generate`` here decodes the mean, so a voice gives one deterministic face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from v2f_bench.hyperparameters import Hyper
from v2f_bench.models.family import GeneratorFamily


class VAE(GeneratorFamily):
    """Voice embedding -> Gaussian latent -> face; loss = pixel BCE (summed) + kl_weight * KL."""

    name = "vae"
    defaults = {
        "lr": Hyper(1e-3, "Adam learning rate (paper and code: 1e-3)"),
        "latent_dim": Hyper(128, "size of the Gaussian latent (authors' code: 128)"),
        "hidden_units": Hyper(128, "width of the two encoder FC layers (paper: 128)"),
        "decoder_channels": Hyper(16, "channels between the two transposed convs (code: 16)"),
        "kl_weight": Hyper(1.0, "weight of the KL term against the summed pixel BCE (paper: 1)"),
    }

    def build(self) -> None:
        hp, s = self.hparams, self.image_size
        if s % 4:
            raise ValueError(f"vae needs an image_size divisible by 4, got {s}")
        h, z = hp["hidden_units"], hp["latent_dim"]
        self.encoder = nn.Sequential(nn.Linear(self.embed_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.to_stats = nn.Linear(h, 2 * z)
        self.decoder = nn.Sequential(
            nn.Linear(z, 32 * (s // 4) ** 2),
            nn.Unflatten(1, (32, s // 4, s // 4)),
            nn.ReLU(),
            nn.ConvTranspose2d(32, hp["decoder_channels"], 5, stride=2, padding=2, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(hp["decoder_channels"], 3, 5, stride=2, padding=2, output_padding=1),
        )
        self.networks = {"encoder": self.encoder, "to_stats": self.to_stats, "decoder": self.decoder}
        params = [p for n in self.networks.values() for p in n.parameters()]
        self.optimizers = {"adam": torch.optim.Adam(params, lr=hp["lr"])}

    def _stats(self, voice: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.to_stats(self.encoder(voice)).chunk(2, dim=1)
        return mu, logvar

    def _train_step(self, voice: Tensor, face: Tensor) -> dict[str, Tensor]:
        mu, logvar = self._stats(voice)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decoder(z)
        batch = voice.shape[0]
        recon = F.binary_cross_entropy_with_logits(logits, face, reduction="sum") / batch
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum() / batch
        loss = recon + self.hparams["kl_weight"] * kl
        self._check_finite(loss=loss)
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def _generate(self, voice: Tensor) -> Tensor:
        mu, _ = self._stats(voice)
        return torch.sigmoid(self.decoder(mu))
