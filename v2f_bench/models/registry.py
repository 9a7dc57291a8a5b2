"""The generator families by name.

Adding a family: write one module with a ``GeneratorFamily`` subclass and add one line to
``FAMILIES`` below (or call ``register_family`` from your own code, without editing this file).
"""

from __future__ import annotations

from v2f_bench.models.cgan import CGAN, RCGAN
from v2f_bench.models.family import GeneratorFamily
from v2f_bench.models.vae import VAE

FAMILIES: dict[str, type[GeneratorFamily]] = {
    "vae": VAE,
    "cgan": CGAN,
    "rcgan": RCGAN,
}


def get_family(name: str) -> type[GeneratorFamily]:
    """The family class registered as ``name``; ``ValueError`` lists the known names otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown generator family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None


def register_family(cls: type[GeneratorFamily]) -> type[GeneratorFamily]:
    """Add ``cls`` to ``FAMILIES`` under ``cls.name``; usable as a class decorator.

    Re-registering the same class is a no-op; taking a name already held by another class is
    a ``ValueError``, so a typo cannot silently replace a built-in family.
    """
    if not (isinstance(cls, type) and issubclass(cls, GeneratorFamily)):
        raise ValueError(f"{cls!r} is not a GeneratorFamily subclass")
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no `name`; set the class attribute `name = '...'`")
    if FAMILIES.get(cls.name, cls) is not cls:
        raise ValueError(f"family name {cls.name!r} is already registered to {FAMILIES[cls.name].__name__}")
    FAMILIES[cls.name] = cls
    return cls
