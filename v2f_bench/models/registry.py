"""The generator families by name.

Adding a family: write one module with a ``GeneratorFamily`` subclass and add one line to
``FAMILIES`` below (or call ``register_family`` from your own code, without editing this file).
"""

from __future__ import annotations

from v2f_bench.models.cgan import CGAN, RCGAN
from v2f_bench.models.family import GeneratorFamily
from v2f_bench.models.vae import VAE
from v2f_bench.registries import lookup, register

FAMILIES: dict[str, type[GeneratorFamily]] = {
    "vae": VAE,
    "cgan": CGAN,
    "rcgan": RCGAN,
}


def get_family(name: str) -> type[GeneratorFamily]:
    """The family class registered as ``name``; ``ValueError`` lists the known names otherwise."""
    return lookup(FAMILIES, name, "generator family")


def register_family(cls: type[GeneratorFamily]) -> type[GeneratorFamily]:
    """Add ``cls`` to ``FAMILIES`` under ``cls.name``; usable as a class decorator (rules: ``registries.register``,
    no name of a stage target (``voice``, ``judge``), and no hyperparameter named like a generic
    generator-trial setting, which ``targets.generator_target`` checks)."""
    from v2f_bench.targets import STAGE_TARGETS, generator_target

    if isinstance(cls, type) and issubclass(cls, GeneratorFamily):
        if cls.name in STAGE_TARGETS:
            raise ValueError(f"family name {cls.name!r} is a search target of its own ({', '.join(STAGE_TARGETS)}); choose another name")
        generator_target(cls)
    return register(FAMILIES, cls, GeneratorFamily, "family")
