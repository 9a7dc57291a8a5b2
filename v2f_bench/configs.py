"""Hyperparameter files: a flat YAML mapping read with ``yaml.safe_load`` (tags such as !!python/object are refused)."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from v2f_bench.errors import UserError


def read_yaml_mapping(path: Path, expected: str, empty_ok: bool = False) -> dict:
    """A YAML file holding a mapping, read with ``yaml.safe_load``; one-line errors naming the file.

    ``expected`` describes the mapping for the error message (e.g. "a Ray cluster config").
    """
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text, so not {expected}; pass a YAML file") from None
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        hint = "; Python object tags are refused" if "python/" in problem else ""
        raise UserError(f"{path}: not plain YAML ({problem}){hint}") from None
    if content is None and empty_ok:
        return {}
    if not isinstance(content, dict):
        raise UserError(f"{path}: expected {expected}, got {_kind(content)}")
    return content


def _kind(content) -> str:
    """What a YAML document holds, in words, for an error message."""
    if content is None:
        return "an empty file"
    names = {list: "a list", str: "a single string", int: "a single number", float: "a single number", bool: "a single boolean"}
    return names.get(type(content), type(content).__name__)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


def load_config(path: Path) -> dict:
    """A flat mapping of hyperparameter names to scalars; one-line errors for anything else."""
    content = read_yaml_mapping(path, "a mapping of hyperparameter names to values", empty_ok=True)
    for key, value in content.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str | int | float | bool)):
            raise UserError(f"{path}: key {key!r} must map to a single number, string or boolean")
    return dict(content)


def check_values(source: str, config: dict, defaults: dict, choices: dict[str, tuple] | None = None) -> None:
    """Each key of ``config`` that ``defaults`` knows holds a value of its default's type (an int is
    accepted for a float), counts (``max_epochs``, ``batch_size``, ``patience``) are at least 1, and
    keys listed in ``choices`` take one of their values. One-line ``UserError`` naming ``source``.

    Meant to run before any training, so that a typo fails in a second rather than in a trial.
    """
    for key, value in config.items():
        if key not in defaults or defaults[key] is None:
            continue
        default = defaults[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            hint = " (YAML reads 1e-3 as a string: write 1.0e-3)" if isinstance(value, str) and isinstance(default, float) else ""
            raise UserError(f"{source}: {key}: expected {_type_word(default)}, got {value!r}{hint}")
        if key in COUNTS and value < 1:
            raise UserError(f"{source}: {key}: must be at least 1, got {value!r}")
        allowed = (choices or {}).get(key)
        if allowed is not None and value not in allowed:
            raise UserError(f"{source}: {key}: {value!r} is not one of {', '.join(map(str, allowed))}")


COUNTS = ("max_epochs", "batch_size", "patience")
"""Hyperparameters that count something and so must be at least 1."""


def _type_word(default) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a finite number"
    return "a string" if isinstance(default, str) else type(default).__name__
