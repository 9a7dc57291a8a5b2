"""The shipped Ray cluster file passes Ray's own validation offline; broken copies give readable problems."""

from __future__ import annotations

import copy
import re
import socket
from pathlib import Path

import pytest
import yaml

from v2f_bench.cluster import validate_cluster_file
from v2f_bench.errors import UserError

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"
SECRETS = re.compile(r"aws_access_key|aws_secret|secret|password|BEGIN (RSA|OPENSSH|EC) PRIVATE|AKIA[0-9A-Z]{16}", re.I)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("cluster validation tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def shipped() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_shipped_cluster_file_is_valid_offline(no_network, monkeypatch):
    """No problems, with no network and no AWS credentials around."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    assert validate_cluster_file(CLUSTER) == []


def test_shipped_cluster_file_has_no_secrets():
    assert SECRETS.search(CLUSTER.read_text()) is None
    assert set(shipped()["auth"]) == {"ssh_user"}


def test_shipped_cluster_file_settings():
    """GPU workers, the plain Ray image, the project installed, dashboard on localhost only."""
    config = shipped()
    assert config["provider"]["type"] == "aws"
    worker = config["available_node_types"]["gpu_worker"]
    assert worker["resources"] == {"CPU": 4, "GPU": 1}
    assert config["docker"]["image"] == "rayproject/ray:2.60.0-py311-gpu"
    assert config["setup_commands"] == [
        "pip install --no-deps --require-hashes -r ~/v2f_bench/requirements.lock",
        "pip install --no-deps --no-build-isolation -e ~/v2f_bench",
    ]
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert "--dashboard-host=127.0.0.1" in config[key][-1]


def drop_worker_resources(config):
    del config["available_node_types"]["gpu_worker"]["resources"]


def drop_provider_type(config):
    del config["provider"]["type"]


def wordy_max_workers(config):
    config["max_workers"] = "four"


def fractional_gpu(config):
    config["available_node_types"]["gpu_worker"]["resources"]["GPU"] = 0.5


def unknown_head_type(config):
    config["head_node_type"] = "gpu_head"


def unknown_provider(config):
    config["provider"]["type"] = "cloudy"


def too_many_min_workers(config):
    config["available_node_types"]["gpu_worker"]["min_workers"] = 9


@pytest.mark.parametrize(("damage", "expected"), [
    pytest.param(drop_worker_resources, "available_node_types.gpu_worker: 'resources' is a required property",
                 id="node-type-without-resources"),
    pytest.param(drop_provider_type, "provider: 'type' is a required property", id="provider-type-removed"),
    pytest.param(wordy_max_workers, "max_workers: 'four' is not of type 'integer'", id="max-workers-string"),
    pytest.param(fractional_gpu, "available_node_types.gpu_worker.resources.GPU: 0.5 is not of type 'integer'",
                 id="fractional-resource"),
    pytest.param(unknown_head_type, "`head_node_type` must be one of `available_node_types`", id="unknown-head-type"),
    pytest.param(unknown_provider, "Unsupported node provider: cloudy", id="unknown-provider"),
    pytest.param(too_many_min_workers, "smaller than the sum of `min_workers`", id="min-workers-over-max"),
])
def test_broken_copy_gives_readable_problem(tmp_path, damage, expected):
    config = copy.deepcopy(shipped())
    damage(config)
    problems = validate_cluster_file(write(tmp_path, config))
    assert any(expected in problem for problem in problems), problems
    assert all("\n" not in problem for problem in problems)


def test_all_schema_problems_are_listed(tmp_path):
    config = copy.deepcopy(shipped())
    drop_worker_resources(config)
    wordy_max_workers(config)
    assert len(validate_cluster_file(write(tmp_path, config))) == 2


@pytest.mark.parametrize("text", [
    pytest.param(None, id="missing"),
    pytest.param("cluster_name: [oops\n", id="not-yaml"),
    pytest.param("- just\n- a list\n", id="not-mapping"),
])
def test_unusable_file_is_a_user_error(tmp_path, text):
    path = tmp_path / "cluster.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=re.escape(str(path))):
        validate_cluster_file(path)
