"""Hyperparameter files: a flat YAML mapping read with ``yaml.safe_load`` (tags such as !!python/object are refused)."""

from __future__ import annotations

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
