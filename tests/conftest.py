"""Shared fixtures: a tiny synthetic dataset made once per session, and a private Ray instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from v2f_bench.data.synth import SMALL, SynthConfig, write_synth

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The real VoxCeleb meta files, present beside the repository on developer machines and in CI."""


def pytest_collection_modifyitems(config, items):
    """The tests that stop the session's Ray instance for their own (``ray_private``) run last, in their order:
    each of them would otherwise cost a restart of the shared one (about 8 s) for the tests after it. One that
    uses a module's fixture stays in place: moved away from its module, it would build that fixture again."""

    def movable(item) -> bool:
        info = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for defs in (info.name2fixturedefs.values() if info else ()) for d in defs}
        return "ray_private" in getattr(item, "fixturenames", ()) and not scopes & {"module", "class", "package"}

    private = [item for item in items if movable(item)]
    items[:] = [item for item in items if item not in private] + private


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory) -> Path:
    """A read-only-by-convention tiny synthetic data root (4 identities, 5 clips and 16 photos each)."""
    root = tmp_path_factory.mktemp("synth") / "raw"
    write_synth(root, SynthConfig(**SMALL))
    return root


@pytest.fixture(scope="session")
def prepared_dir(small_raw, tmp_path_factory) -> Path:
    """The tiny dataset prepared once per session, read-only by convention (searches, status, trackers, reports)."""
    from v2f_bench.data.prepared import PrepareConfig, prepare
    from v2f_bench.data.sources import resolve_sources

    out = tmp_path_factory.mktemp("prepared") / "prepared"
    prepare(resolve_sources(small_raw, None, None), out, PrepareConfig())
    return out


@pytest.fixture(scope="session")
def trained_stages(prepared_dir, tmp_path_factory, shared_ray) -> Path:
    """A run directory holding the voice stage of the default voice config and the judge stage of
    ``--judge-epochs 1`` on ``prepared_dir``, trained once per session. Read-only by convention: tests
    take a copy (``staged_run_dir``), and a generator command there reuses both stages (their keys match)
    instead of training them again."""
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.judge import JudgeConfig
    from v2f_bench.tasks.judge import judge_stage
    from v2f_bench.tasks.voice import voice_stage

    shared_ray()
    root = tmp_path_factory.mktemp("stages")
    prepared = load_prepared(prepared_dir)
    voice_stage(prepared, root, {})
    judge_stage(prepared, root, JudgeConfig(epochs=1))
    return root


@pytest.fixture(scope="session")
def diverging_search(prepared_dir, trained_stages, tmp_path_factory, shared_ray):
    """A finished search of the throwaway ``tiny-linear`` family (tests/test_trainables.py) in which a planted
    NaN fails some trials and not others, with the stage artifacts a ``tune FAMILY`` search leaves, on the
    session's stages and Ray: ``experiment`` (its folder), ``results`` (Ray's ResultGrid), ``space``.
    Read-only by convention (tests/test_trainables.py reads the results, tests/test_faults.py reports on it)."""
    from types import SimpleNamespace

    from tests.test_trainables import TinyLinear
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.judge import JudgeConfig
    from v2f_bench.models.registry import FAMILIES, register_family
    from v2f_bench.search import Budget, SearchSetup, run_search
    from v2f_bench.search_space import load_space
    from v2f_bench.tasks.generator import generator_data, stage_artifacts
    from v2f_bench.tasks.judge import judge_stage
    from v2f_bench.tasks.voice import voice_stage

    root = tmp_path_factory.mktemp("diverging")
    prepared = load_prepared(prepared_dir)
    if TinyLinear.name not in FAMILIES:
        register_family(TinyLinear)
    space_file = root / "tiny.yaml"
    space_file.write_text(
        "target: tiny-linear\nmetric: val_verification_accuracy\nmode: max\n"
        "parameters:\n  explode_at: {type: choice, values: [0, 2]}\n  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}\n"
    )
    space = load_space(space_file)
    shared_ray()
    for stage in ("voice", "judge"):
        shutil.copytree(trained_stages / stage, root / stage)
    voice = voice_stage(prepared, root, {})
    judge = judge_stage(prepared, root, JudgeConfig(epochs=1))
    data = generator_data(prepared, root, voice, judge)
    setup = SearchSetup("tiny-linear", data, space, prepared.manifest["cache_key"], artifacts=stage_artifacts(prepared, data, judge))
    budget = Budget(trials=4, max_epochs=2, concurrency=2, scheduler="fifo", max_failures=2)  # retries allowed: a diverged trial still is not retried
    results = run_search(setup, budget, str(root / "searches"), "tiny-linear", seed=1)
    experiment = root / "searches" / "tiny-linear"
    diverged = [p.parent.name for p in experiment.glob("*/diverged.txt")]
    assert 0 < len(diverged) < 4, f"the planted NaN must fail some trials and leave the others ({len(diverged)} of 4 diverged)"
    return SimpleNamespace(experiment=experiment, results=results, space=space)


@pytest.fixture(scope="session")
def voice_sharded(small_raw, tmp_path_factory):
    """The tiny dataset prepared in voice shards of 3 clips (7 shards), so that passes cross shard boundaries (read only)."""
    from v2f_bench.data.prepared import PrepareConfig, load_prepared, prepare
    from v2f_bench.data.sources import resolve_sources

    out = tmp_path_factory.mktemp("voice-sharded") / "ds"
    prepare(resolve_sources(small_raw, None, None), out, PrepareConfig(shard_clips=3))
    return load_prepared(out)


@pytest.fixture
def staged_run_dir(trained_stages, tmp_path) -> Path:
    """``tmp_path / "run"`` holding a copy of the session's voice and judge stages (``trained_stages``)."""
    run = tmp_path / "run"
    for stage in ("voice", "judge"):
        shutil.copytree(trained_stages / stage, run / stage)
    return run


@pytest.fixture
def raw_copy(small_raw, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may damage."""
    return Path(shutil.copytree(small_raw, tmp_path / "raw"))


@pytest.fixture(scope="session")
def shared_ray():
    """The session's one local Ray instance (2 CPUs, dashboard off, the console options of a normal run), as a
    function that starts it when it is not running: at first use, and again after a test that needed its own
    (``ray_private``). Starting Ray takes about 8 s here, so the searches, stages and commands of the suite
    share it: the commands join a running instance instead of starting theirs (``parallel.ray_session``).

    The S3 test server's dummy credentials are in the environment before it starts, so that its workers
    (which inherit the driver's environment at start) reach the test buckets too."""
    import ray

    from v2f_bench.console import ray_init_options

    environment = pytest.MonkeyPatch()
    for key, value in S3_TEST_ENV.items():
        environment.setenv(key, value)

    def start() -> None:
        if not ray.is_initialized():
            ray.init(address="local", num_cpus=2, include_dashboard=False, **ray_init_options())

    yield start
    ray.shutdown()
    environment.undo()


@pytest.fixture
def ray_address(shared_ray) -> str:
    """The address of the session's Ray instance (running), for a command in a subprocess to join with ``--address``,
    as a driver joins a cluster's head, instead of starting a Ray of its own (about 8 s)."""
    import ray

    shared_ray()
    return ray.get_runtime_context().gcs_address


@pytest.fixture
def ray_shared(shared_ray, request):
    """The session's Ray instance, running (``shared_ray``); a test that also asks for ``ray_private`` gets that instead."""
    if "ray_private" not in request.fixturenames:
        shared_ray()


@pytest.fixture
def ray_private():
    """For a test that starts its own Ray (a cluster, other resources, Ray's own console): the session's instance is
    stopped before it and whatever it started after it; the next test that needs the shared one starts it again."""
    import ray

    ray.shutdown()
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A real S3-compatible server (moto's standalone server) on 127.0.0.1, ``host:port``.

    Clients reach it the way they reach a real bucket: pyarrow's S3 filesystem with
    ``endpoint_override``, here given in the URI (``s3://bucket/prefix?endpoint_override=...&scheme=http``).
    """
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


S3_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
"""The moto server accepts any credentials; these dummy ones stand where a user's would (environment, never files)."""


@pytest.fixture
def s3_storage(s3_endpoint, monkeypatch, request) -> str:
    """A fresh bucket on the test server, as the ``--storage`` URI a user would give.

    The dummy credentials are set in the environment before any Ray instance starts, so Ray's
    workers (which inherit the driver's environment) reach the bucket too.
    """
    import re

    from pyarrow import fs

    for key, value in S3_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    bucket = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    host = fs.S3FileSystem(endpoint_override=s3_endpoint, scheme="http", allow_bucket_creation=True, **_s3_keys())
    host.create_dir(bucket)
    return f"s3://{bucket}/runs?endpoint_override={s3_endpoint}&scheme=http"


def _s3_keys() -> dict:
    return {"access_key": S3_TEST_ENV["AWS_ACCESS_KEY_ID"], "secret_key": S3_TEST_ENV["AWS_SECRET_ACCESS_KEY"], "region": S3_TEST_ENV["AWS_DEFAULT_REGION"]}


def stand_in_voice_stage(prepared, run_dir: Path, windows) -> dict:
    """A voice stage record whose window embeddings are ``windows`` ((W, D) float32), written as the voice stage writes
    them (``tasks.voice.write_embeddings``), for tests where the voice encoder is not under test."""
    from v2f_bench.tasks.voice import WINDOW_EMBEDDINGS, write_embeddings
    from v2f_bench.voice_encoders.base import VoiceEncoder

    class Given(VoiceEncoder):
        name, embedding_dim = "test-given", windows.shape[1]

        def window_embeddings(self, prepared, model=None):
            return windows

    return {"encoder": Given.name, WINDOW_EMBEDDINGS: write_embeddings(Given(), prepared, Path(run_dir) / "voice")}
