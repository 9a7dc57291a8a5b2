"""Typed hyperparameter declarations and the one check every config goes through.

A trainable thing (a generator family, a trainable voice encoder, the trained judge, the generic
generator-trial settings) declares what it accepts as ``name -> Hyper``. ``check_config`` is the
only place that refuses an unknown name or a value of the wrong type, range or choice: the CLI
calls it on ``--config`` files before any work, a trial calls it on its config, and a family's
constructor calls it on its own part. ``targets.Target`` combines the declarations of one search
target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from v2f_bench.errors import UserError


class HyperparameterError(UserError, ValueError):
    """A config names an unknown hyperparameter or gives one a bad value: a one-line ``UserError``,
    and a ``ValueError`` for code that builds families or trials directly."""


@dataclass(frozen=True)
class Hyper:
    """One accepted hyperparameter: its default, a one-line doc and, optionally, the allowed values
    (``choices``) or the smallest allowed value (``minimum``, for counts and rates; with ``exclusive``
    the value must lie above it, e.g. a learning rate above 0)."""

    default: Any
    doc: str
    choices: tuple | None = None
    minimum: float | None = None
    exclusive: bool = False

    def check(self, name: str, value: Any) -> Any:
        """``value`` coerced to the default's type (an int for a float; a whole float for an int), or
        ``HyperparameterError`` naming ``name``, what was expected and what was given."""
        kind = type(self.default)
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and float(value).is_integer()
            value = int(value) if ok else value
        elif kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, kind)
        if not ok:
            hint = " (YAML reads 1e-3 as a string: write 1.0e-3)" if isinstance(value, str) and kind is float else ""
            raise HyperparameterError(f"{name}: expected {_type_word(self.default)}, got {value!r}{hint}")
        if self.choices is not None and value not in self.choices:
            raise HyperparameterError(f"{name}: {value!r} is not one of {', '.join(map(repr, self.choices))}")
        if self.minimum is not None and (value < self.minimum or (self.exclusive and value == self.minimum)):
            bound = "greater than" if self.exclusive else "at least"
            raise HyperparameterError(f"{name}: must be {bound} {self.minimum:g}, got {value!r}")
        return value


def check_config(hypers: Mapping[str, Hyper], config: Mapping[str, Any], owner: str, source: str | None = None) -> dict[str, Any]:
    """Every declared hyperparameter, set from ``config`` where it has the key and checked, else its default.

    An unknown key or a bad value is a ``HyperparameterError``: "<source>: 'key' is not a <owner>
    hyperparameter; accepted: ..." or "<source>: key: expected ...". ``source`` names the file or
    flag the config came from (default: "<owner> config").
    """
    where = source or f"{owner} config"
    unknown = sorted(set(config) - set(hypers))
    if unknown:
        accepted = ", ".join(sorted(hypers)) or "none"
        raise HyperparameterError(f"{where}: {unknown[0]!r} is not a {owner} hyperparameter; accepted: {accepted}")
    checked = {}
    for name, hyper in hypers.items():
        try:
            checked[name] = hyper.check(name, config[name]) if name in config else hyper.default
        except HyperparameterError as exc:
            raise HyperparameterError(f"{where}: {exc}") from None
    return checked


def _type_word(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a finite number"
    return "a string" if isinstance(default, str) else type(default).__name__
