"""Hyperparameter files: a flat YAML mapping read with ``yaml.safe_load`` (tags such as !!python/object are refused)."""

from __future__ import annotations

from pathlib import Path

import yaml

from v2f_bench.errors import UserError


def load_config(path: Path) -> dict:
    """A flat mapping of hyperparameter names to scalars; one-line errors for anything else."""
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise UserError(f"{path}: not a plain YAML mapping ({problem}); write `name: value` lines") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise UserError(f"{path}: expected a mapping of hyperparameter names to values, got a {type(content).__name__}")
    for key, value in content.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str | int | float | bool)):
            raise UserError(f"{path}: key {key!r} must map to a single number, string or boolean")
    return dict(content)
