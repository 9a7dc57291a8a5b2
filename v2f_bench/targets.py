"""Search targets: each searchable thing declared once, with its typed hyperparameters and its objective.

A target is what ``train``, ``tune`` and a space file's ``target:`` name. Each task (``tasks``) gives
the targets of its role (``tasks.registry.get_target`` finds one by name):

- ``voice``: a trainable voice encoder (``VoiceEncoder.hyperparameters`` and ``.objective``);
- ``judge``: the trained face judge (``judge.SEARCHED_JUDGE``; ``Judge.hyperparameters`` and ``.objective``);
- a registered generator family: the generic trial settings (``models.family.GENERATOR_HYPERS``) plus
  the family's own (``GeneratorFamily.defaults``), selected by ``tasks.generator.GENERATOR_OBJECTIVE``.

Everything that checks a config or a space file asks the ``Target``: ``check`` refuses unknown names
and bad values (through ``hyperparameters.check_config``), ``searchable`` is what a space file may
set, ``defaults`` is the first point of a defaults-first search, ``metric``/``mode`` are what a
search optimises when its space file does not say, and ``role`` tells the search and the report a
generator family from the voice and judge stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from v2f_bench.hyperparameters import Hyper, check_config

ROLES = ("voice", "judge", "generator")
STAGE_TARGETS = ("voice", "judge")
"""The targets that are not generator families; each is also the name of its role."""

RESERVED = frozenset({"max_epochs", "seed"})
"""Set by the search itself (the declared budget, the search seed), never by a space file, so that every
search of a comparison gets the same budget."""


@dataclass(frozen=True)
class Target:
    """One search target's declaration (see the module docstring)."""

    name: str
    role: str
    hyperparameters: Mapping[str, Hyper]
    metric: str
    mode: str

    def check(self, config: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
        """Every hyperparameter of the target, from ``config`` (checked) or its default; a one-line
        ``HyperparameterError`` naming ``source`` (a file or flag) for an unknown name or a bad value."""
        return check_config(self.hyperparameters, config, self.name, source)

    def defaults(self) -> dict[str, Any]:
        """Every hyperparameter's default (the paper's setting where it gives one)."""
        return {name: hyper.default for name, hyper in self.hyperparameters.items()}

    def searchable(self) -> set[str]:
        """The names a space file for this target may set: all but the ``RESERVED`` ones."""
        return set(self.hyperparameters) - RESERVED


def role_of(target: str, recorded: str | None = None) -> str:
    """The role of a search target named in an experiment record: the record's own ``role`` where it has
    one, else ``voice``/``judge`` for those names and ``generator`` for any other (records older than
    roles, and families not registered in this process)."""
    if recorded in ROLES:
        return recorded
    return target if target in STAGE_TARGETS else "generator"
