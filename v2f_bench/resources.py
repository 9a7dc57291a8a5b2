"""Can the Ray cluster hold the trials a command is about to ask for? Checked once Ray is connected,
before any stage trains or any search starts.

Ray places a trial's CPUs and GPUs on ONE node, so a trial must fit on one node: two nodes of one
CPU each hold no trial of two CPUs, although the cluster has two CPUs in all. A trial that fits
nowhere stays PENDING for ever, and Ray says why only inside its progress output ("No available
node types can fulfill resource request {'GPU': 1.0}"). So ``tune``, ``compare`` and ``paper`` ask
first:

- no node can ever hold one trial: a ``UserError`` (one line) saying what to change;
- the nodes hold fewer trials at once than the requested concurrency: one warning line on stderr
  naming the concurrency the search will reach (the sum over nodes of the trials each holds,
  capped by the requested concurrency).

The nodes are the alive ones of ``ray.nodes()``, with their total resources (what each holds when
idle; other jobs may use part of it for a while, which only delays trials). An autoscaling cluster
also has nodes it has not started yet: the shipped ``cluster.yaml`` starts with a 0-CPU head and no
GPU worker. On such a cluster's head node the launcher leaves its config in
``~/ray_bootstrap_config.yaml`` (the file Ray Tune itself looks for to tell an autoscaling cluster);
its worker node types count as nodes too, as many as its ``max_workers`` leave room for beside the
alive workers. A driver that reaches an autoscaling cluster from elsewhere (``ray://``) sees only
the alive nodes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from v2f_bench.errors import UserError

BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")
"""Where the Ray cluster launcher leaves the cluster's config on its head node."""
HEAD_RESOURCE = "node:__internal_head__"
"""The resource Ray gives the head node only."""
_SLACK = 1e-9
"""Fractional requests (``--gpus-per-trial 0.5``) divide exactly; this only absorbs float rounding."""


def check_trial_resources(
    cpus_per_trial: float,
    gpus_per_trial: float,
    concurrency: int,
    source: str | None = None,
    fix: str | None = None,
    bootstrap: Path = BOOTSTRAP_CONFIG,
) -> int:
    """Refuse a trial no node can hold, warn when the cluster holds fewer than ``concurrency`` at once.

    ``source`` names what set the request when it is not the ``--cpus-per-trial``, ``--gpus-per-trial``
    and ``--concurrency`` flags (``paper``: ``"--profile full"``); ``fix`` then says what to change
    instead of those flags. Returns the concurrency the cluster will reach.
    """
    import ray

    alive = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    types, room = _launchable_nodes(Path(bootstrap).expanduser(), sum(1 for node in alive if HEAD_RESOURCE not in node))
    launchable = sorted(types, key=lambda node: _trials_on(node, cpus_per_trial, gpus_per_trial), reverse=True)[:room]
    nodes = alive + launchable
    ask = f"{_amount(cpus_per_trial, 'CPU')} and {_amount(gpus_per_trial, 'GPU')}"
    where = f"{_amount(len(alive), 'node')} alive" + (f", {len(launchable)} more that {bootstrap} lets the autoscaler add" if launchable else "")
    held = sum(_trials_on(node, cpus_per_trial, gpus_per_trial) for node in nodes)
    if held == 0:
        raise UserError(_refusal(cpus_per_trial, gpus_per_trial, nodes, ask, where, source, fix))
    reached = min(held, concurrency)
    if reached < concurrency:
        asked = f"the concurrency {concurrency} of {source}" if source else f"--concurrency {concurrency}"
        print(f"warning: the Ray cluster holds {_amount(held, 'trial')} of {ask} at once ({where}): "
              f"the search will reach concurrency {reached}, not {asked}", file=sys.stderr)
    return reached


def _refusal(cpus: float, gpus: float, nodes: list[dict], ask: str, where: str, source: str | None, fix: str | None) -> str:
    most_cpus = max((float(node.get("CPU", 0)) for node in nodes), default=0.0)
    most_gpus = max((float(node.get("GPU", 0)) for node in nodes), default=0.0)
    if gpus > most_gpus + _SLACK:
        short = f"no node has {_amount(gpus, 'GPU')}"
        flags = "set --gpus-per-trial 0 to train on CPUs" if most_gpus == 0 else f"lower --gpus-per-trial to {most_gpus:g} or less"
    elif cpus > most_cpus + _SLACK:
        short = f"no node has {_amount(cpus, 'CPU')}"
        flags = f"lower --cpus-per-trial to {most_cpus:g} or less" if most_cpus > 0 else "add nodes with CPUs"
    else:
        short = "no node has both"
        flags = "lower --cpus-per-trial or --gpus-per-trial"
    trial = f"a trial of {source}" if source else "a trial"
    return (f"{trial} asks for {ask}, but {short} ({where}; the most on one node: {_amount(most_cpus, 'CPU')}, "
            f"{_amount(most_gpus, 'GPU')}), so it would wait for ever: {fix or flags}, or use --address to reach a cluster with such a node")


def _trials_on(node: dict, cpus: float, gpus: float) -> int:
    """How many trials of ``cpus`` and ``gpus`` one node holds at once."""
    fits = [int(float(node.get("CPU", 0)) / cpus + _SLACK)] if cpus > 0 else []
    if gpus > 0:
        fits.append(int(float(node.get("GPU", 0)) / gpus + _SLACK))
    return min(fits) if fits else 0


def _launchable_nodes(bootstrap: Path, alive_workers: int) -> tuple[list[dict], int]:
    """(resources of each worker node an autoscaling cluster's launcher config allows, how many more
    workers it may start), from the config the launcher left on the head node; nothing when the file
    is absent or unreadable. Each worker node type counts up to its ``max_workers``; the cluster's
    ``max_workers`` less the workers already alive caps them all."""
    from v2f_bench.configs import read_yaml_mapping

    if not bootstrap.is_file():
        return [], 0
    try:
        config = read_yaml_mapping(bootstrap, "a Ray cluster config")
    except UserError:  # not the launcher's file after all: count the alive nodes only
        return [], 0
    if not isinstance(config.get("available_node_types"), dict):
        return [], 0
    nodes = []
    for name, spec in config["available_node_types"].items():
        if name == config.get("head_node_type") or not isinstance(spec, dict) or not isinstance(spec.get("resources"), dict):
            continue
        nodes += [spec["resources"]] * int(spec.get("max_workers", config.get("max_workers", 0)) or 0)
    return nodes, max(0, int(config.get("max_workers", len(nodes)) or 0) - alive_workers)


def _amount(value: float, unit: str) -> str:
    return f"{value:g} {unit}" + ("" if value == 1 else "s")
