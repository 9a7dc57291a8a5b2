"""Security basics, checked over the source tree: safe loaders only, no pickle, nothing listening beyond localhost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "v2f_bench").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))


def calls(pattern: str) -> list[str]:
    """``file:line: text`` of every source line matching ``pattern``."""
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_every_torch_load_is_weights_only():
    loads = calls(r"torch\.load\(")
    assert loads, "the package loads checkpoints somewhere"
    assert [line for line in loads if "weights_only=True" not in line] == []


@pytest.mark.parametrize(
    "pattern, why",
    [
        pytest.param(r"\bpickle\.loads?\(|\bcloudpickle\.loads?\(", "unpickling runs code from the file", id="pickle"),
        pytest.param(r"yaml\.(load|unsafe_load|full_load)\(", "only yaml.safe_load refuses object tags", id="unsafe-yaml"),
        pytest.param(r"allow_pickle=True", "numpy object arrays unpickle", id="numpy-pickle"),
        pytest.param(r"(?<![.\w])(eval|exec)\(", "configs are data, never code", id="eval"),
    ],
)
def test_no_unsafe_deserialisation(pattern, why):
    assert calls(pattern) == [], why


def test_yaml_is_read_in_one_place_with_safe_load():
    assert [line.split(":")[0] for line in calls(r"yaml\.safe_load\(")] == ["v2f_bench/configs.py"]


def test_ray_dashboard_is_off_or_on_localhost():
    inits = calls(r"ray\.init\(")
    local = [line for line in inits if "address=" not in line or "local" in line]
    assert all("include_dashboard=False" in line for line in local), local
    cluster = (ROOT / "cluster.yaml").read_text()
    starts = [line for line in cluster.splitlines() if "ray start" in line and not line.lstrip().startswith("#")]
    assert starts and all("--dashboard-host=127.0.0.1" in line for line in starts)


def test_the_cluster_file_holds_no_credentials():
    from v2f_bench.configs import read_yaml_mapping

    def keys_and_values(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key).lower()
                yield from keys_and_values(value)
        elif isinstance(node, list):
            for item in node:
                yield from keys_and_values(item)
        else:
            yield str(node).lower()

    found = list(keys_and_values(read_yaml_mapping(ROOT / "cluster.yaml", "a cluster config")))
    for secret in ("aws_access_key_id", "aws_secret_access_key", "ssh_private_key", "password", "begin rsa", "begin openssh"):
        assert not any(secret in item for item in found), secret
