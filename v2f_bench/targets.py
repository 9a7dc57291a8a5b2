"""Search targets: each searchable thing declared once, with its typed hyperparameters and its objective.

A target is what ``train``, ``tune`` and a space file's ``target:`` name:

- ``voice``: a trainable voice encoder (``VoiceEncoder.hyperparameters`` and ``.objective``);
- ``judge``: the trained face judge (``trainables.SEARCHED_JUDGE``; ``Judge.hyperparameters`` and ``.objective``);
- a registered generator family: the generic trial settings (``trainables.GENERATOR_HYPERS``) plus
  the family's own (``GeneratorFamily.defaults``), selected by ``trainables.GENERATOR_OBJECTIVE``.

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

from v2f_bench.errors import UserError
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


def get_target(name: str, voice_encoder: str | None = None, families: Mapping[str, type] | None = None) -> Target:
    """The declaration of target ``name``: ``voice`` (of ``voice_encoder``, default the default encoder; ignored for other targets),
    ``judge``, or a generator family from ``families`` (default the registry). Unknown: one-line ``UserError``."""
    if name == "voice":
        return voice_target(voice_encoder)
    if name == "judge":
        return judge_target()
    if families is None:
        from v2f_bench.models.registry import FAMILIES as families
    if name in families:
        return generator_target(families[name])
    known = ", ".join([*STAGE_TARGETS, *sorted(families)])
    raise UserError(f"unknown search target {name!r}; known targets: {known}")


def voice_target(voice_encoder: str | None = None) -> Target:
    """The trainable voice encoder ``voice_encoder`` as a target; a pretrained one has nothing to search."""
    from v2f_bench.voice_encoders.registry import VOICE_ENCODERS, resolve_voice_encoder

    encoder = resolve_voice_encoder(voice_encoder)
    if not encoder.trainable:
        trainable = ", ".join(n for n, c in sorted(VOICE_ENCODERS.items()) if c.trainable)
        raise UserError(f"voice encoder {encoder.name!r} is pretrained and has no hyperparameters to train or search; use a trainable one ({trainable})")
    metric, mode = encoder.objective
    return Target("voice", "voice", encoder.hyperparameters, metric, mode)


def judge_target() -> Target:
    """The trained judge as a target (the one judge with hyperparameters)."""
    from v2f_bench.judges.registry import get_judge
    from v2f_bench.trainables import SEARCHED_JUDGE

    judge = get_judge(SEARCHED_JUDGE)
    metric, mode = judge.objective
    return Target("judge", "judge", judge.hyperparameters, metric, mode)


def generator_target(family: type) -> Target:
    """A generator family class as a target: the generic trial settings plus the family's own hyperparameters."""
    from v2f_bench.trainables import GENERATOR_HYPERS, GENERATOR_OBJECTIVE

    clash = sorted(set(GENERATOR_HYPERS) & set(family.defaults))
    if clash:
        raise ValueError(f"family {family.name!r} declares {clash[0]!r}, a generic generator-trial setting (trainables.GENERATOR_HYPERS); rename it")
    metric, mode = GENERATOR_OBJECTIVE
    return Target(family.name, "generator", {**GENERATOR_HYPERS, **family.defaults}, metric, mode)


def role_of(target: str, recorded: str | None = None) -> str:
    """The role of a search target named in an experiment record: the record's own ``role`` where it has
    one, else ``voice``/``judge`` for those names and ``generator`` for any other (records older than
    roles, and families not registered in this process)."""
    if recorded in ROLES:
        return recorded
    return target if target in STAGE_TARGETS else "generator"
