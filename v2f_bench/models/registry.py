"""The generator families by name.

Adding a family: write one module with a ``GeneratorFamily`` subclass and add one line to
``FAMILIES`` below (or call ``register_family`` from your own code, without editing this file).
"""

from __future__ import annotations

from v2f_bench.models.cgan import CGAN, RCGAN
from v2f_bench.models.diffusion import Diffusion
from v2f_bench.models.family import GENERATOR_HYPERS, GeneratorFamily
from v2f_bench.models.mean_face import MeanFace
from v2f_bench.models.nearest_identity import NearestIdentity
from v2f_bench.models.vae import VAE
from v2f_bench.registries import lookup, register
from v2f_bench.targets import STAGE_TARGETS

FAMILIES: dict[str, type[GeneratorFamily]] = {
    "vae": VAE,
    "cgan": CGAN,
    "rcgan": RCGAN,
    "diffusion": Diffusion,
    "mean-face": MeanFace,
    "nearest-identity": NearestIdentity,
}


def get_family(name: str) -> type[GeneratorFamily]:
    """The family class registered as ``name``; ``ValueError`` lists the known names otherwise."""
    return lookup(FAMILIES, name, "generator family")


def register_family(cls: type[GeneratorFamily]) -> type[GeneratorFamily]:
    """Add ``cls`` to ``FAMILIES`` under ``cls.name``; usable as a class decorator (rules: ``registries.register``,
    no name of a stage target (``voice``, ``judge``), and no hyperparameter named like a generic
    generator-trial setting (``check_family``))."""
    if isinstance(cls, type) and issubclass(cls, GeneratorFamily):
        if cls.name in STAGE_TARGETS:
            raise ValueError(f"family name {cls.name!r} is a search target of its own ({', '.join(STAGE_TARGETS)}); choose another name")
        check_family(cls)
    return register(FAMILIES, cls, GeneratorFamily, "family")


def check_family(family: type[GeneratorFamily]) -> None:
    """``ValueError`` when ``family`` declares a hyperparameter named like a generic trial setting (``GENERATOR_HYPERS``)."""
    clash = sorted(set(GENERATOR_HYPERS) & set(family.defaults))
    if clash:
        raise ValueError(f"family {family.name!r} declares {clash[0]!r}, a generic generator-trial setting (models.family.GENERATOR_HYPERS); rename it")
