"""Offline checks of a Ray cluster launcher file (``cluster.yaml``) before anyone runs ``ray up``.

``validate_cluster_file`` uses Ray's own rules: the JSON schema shipped with Ray
(``ray/autoscaler/ray-schema.json``) and the private functions ``ray up`` itself calls,
``ray.autoscaler._private.util.prepare_config`` (merge the provider's defaults file, fill in
per-node-type worker counts, check the docker section) and ``validate_config`` (the schema
again, plus cross-field rules such as ``head_node_type`` being one of the node types). These
are private APIs: they are used as they are in the Ray version ``pyproject.toml`` pins (2.60)
and may change with another one.

None of this needs a cloud account: for AWS, ``prepare_config`` only reads
``ray/autoscaler/aws/defaults.yaml`` from the Ray package (no boto3, no credentials, no network);
the provider is contacted later, in ``ray up``'s bootstrap step, which this module never calls.
"""

from __future__ import annotations

import copy
import json
import logging
from contextlib import contextmanager
from pathlib import Path

from v2f_bench.configs import read_yaml_mapping

MAX_MESSAGE = 200
"""Longest problem line: schema messages quote the offending value, which may be large."""


def validate_cluster_file(path: Path) -> list[str]:
    """The problems Ray finds in a cluster launcher file, one line each; an empty list means valid.

    A missing or unreadable file, a file that is not YAML, or one that is not a mapping is a
    ``UserError`` instead: there is nothing to validate.
    """
    path = Path(path)
    config = read_yaml_mapping(path, "a Ray cluster config (a mapping with cluster_name, provider, ...)")
    problems = schema_problems(config)
    if problems:
        return problems
    return _ray_problems(config)


def schema_problems(config: dict) -> list[str]:
    """Every violation of Ray's cluster schema, as ``key.path: message`` lines sorted by key."""
    import jsonschema

    validator = jsonschema.Draft7Validator(_ray_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    return [_one_line(f"{_key(error.absolute_path)}: {error.message}") for error in errors]


def _ray_schema() -> dict:
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def _ray_problems(config: dict) -> list[str]:
    """Run ``prepare_config`` then ``validate_config`` on a copy; their first complaint, if any.

    These private functions raise assorted exception types (ValueError, KeyError, AssertionError,
    NotImplementedError, jsonschema's ValidationError, ...) for a bad config, so any exception
    becomes a problem line.
    """
    from ray.autoscaler._private.util import prepare_config, validate_config

    try:
        with _quiet_autoscaler():
            validate_config(prepare_config(copy.deepcopy(config)))
    except Exception as exc:  # any failure is a finding: see the docstring
        return [_one_line(f"Ray rejects the config: {_describe(exc)}")]
    return []


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc}"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message


@contextmanager
def _quiet_autoscaler():
    """Hide the autoscaler's INFO lines (such as 'setting max workers ...') while preparing."""
    logger = logging.getLogger("ray.autoscaler")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _key(path) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
