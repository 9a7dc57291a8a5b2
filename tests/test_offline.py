"""Nothing downloads at run time: the pretrained judge and voice encoder run with every network
connection refused.

The guard replaces the socket calls that open a connection (``socket.connect``/``connect_ex``,
``socket.create_connection`` and name resolution) with ones that raise, so any attempt to fetch
weights (torch.hub, urllib, requests) fails the test instead of quietly succeeding on a machine that
happens to be online. A first test shows the guard really stops a connection.
"""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pytest

from v2f_bench.data.prepared import load_prepared


class NetworkUsed(AssertionError):
    """Raised by the guard: something tried to reach the network."""


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise NetworkUsed(f"a network connection was attempted: {args[1:] or args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_guard_refuses_a_connection(no_network):
    with pytest.raises(NetworkUsed):
        urllib.request.urlopen("http://127.0.0.1:9/weights.pt", timeout=1)


def test_the_dlib_judge_calibrates_tau_offline(no_network, prepared_dir, tmp_path):
    from v2f_bench.judge import JudgeConfig
    from v2f_bench.tasks.judge import judge_stage

    prepared = load_prepared(prepared_dir)
    record = judge_stage(prepared, tmp_path, JudgeConfig(kind="dlib", align="predictor"))
    assert record["config"]["kind"] == "dlib"
    assert 0.0 < record["calibration"]["tau"] < 4.0
    assert record["test_verification"]["n_pairs"] > 0


def test_the_ge2e_voice_encoder_embeds_offline(no_network, prepared_dir, tmp_path):
    from v2f_bench.data.batches import whole_column
    from v2f_bench.tasks.voice import voice_stage, window_layout

    prepared = load_prepared(prepared_dir)
    record = voice_stage(prepared, tmp_path, encoder="ge2e")
    assert record["encoder"] == "ge2e"
    windows = whole_column(window_layout(tmp_path, record))
    assert windows.shape == (len(prepared.voice_features), 256)
    assert np.isfinite(windows).all()


def test_the_distribution_metrics_run_offline(no_network):
    """FD and KID through torchmetrics with the judge's embeddings as features (no Inception weights to fetch), and
    precision/recall/density/coverage through prdc."""
    import torch

    from v2f_bench import metrics

    torch.manual_seed(0)
    values = metrics.distribution(torch.randn(40, 8), torch.randn(30, 8))
    assert set(metrics.DISTRIBUTION) <= set(values) and all(np.isfinite(values[m]) for m in metrics.DISTRIBUTION)
