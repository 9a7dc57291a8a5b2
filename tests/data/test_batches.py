"""A trial's batches: one seeded order, the same batches from memory and streamed from shards through Ray Data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from v2f_bench.data.batches import IN_MEMORY_LIMIT_BYTES, InMemoryRows, ShardLayout, StreamedRows, shard_order, streams, take_rows
from v2f_bench.data.prepared import VOICE_COLUMN, VOICE_SHARDS
from v2f_bench.data.synth import SynthConfig, write_synth


@pytest.fixture(scope="module")
def sharded(voice_sharded):
    """The tiny dataset in voice shards of 3 clips (7 shards), and the layout of its features."""
    return voice_sharded, ShardLayout.of(voice_sharded, VOICE_SHARDS, VOICE_COLUMN)


def passes(rows, wanted, batch_size, seed=None, epoch=None, skip=0):
    return [(index, batch.numpy()) for index, batch in rows.batches(wanted, batch_size, seed, epoch, skip)]


def test_rows_taken_from_the_shards_are_those_of_the_whole_column(sharded):
    """``take_rows`` reads only the shards that hold the rows asked for, in the order asked, repeats kept."""
    ds, layout = sharded
    index = np.array([layout.total - 1, 0, 5, 5, layout.first[3]])
    assert np.array_equal(take_rows(layout, index), ds.voice_features[index])
    assert take_rows(layout, np.zeros(0, dtype=int)).shape == (0, *layout.shape)
    with pytest.raises(IndexError):
        take_rows(layout, [layout.total])


def test_an_epoch_reads_every_wanted_row_once_in_an_order_set_by_seed_and_epoch(sharded):
    ds, layout = sharded
    train = ds.arrays["window_split.npy"] == "train"
    order = np.concatenate([layout.first[k] + positions for k, positions in shard_order(layout, train, 0, 1)])
    assert sorted(order.tolist()) == np.flatnonzero(train).tolist()
    again = np.concatenate([layout.first[k] + p for k, p in shard_order(layout, train, 0, 1)])
    other = np.concatenate([layout.first[k] + p for k, p in shard_order(layout, train, 0, 2)])
    assert np.array_equal(order, again) and not np.array_equal(order, other)
    in_storage = np.concatenate([layout.first[k] + p for k, p in shard_order(layout, train)])
    assert np.array_equal(in_storage, np.flatnonzero(train))


@pytest.mark.parametrize("epoch", [pytest.param(3, id="training-epoch"), pytest.param(None, id="evaluation-pass")])
def test_streamed_batches_through_ray_data_are_the_in_memory_batches(sharded, ray_shared, epoch):
    ds, layout = sharded
    wanted = ds.arrays["window_split.npy"] == ("train" if epoch else "val")
    size = 16 if epoch else 4
    memory = passes(InMemoryRows(layout, ds.voice_features), wanted, size, 7, epoch)
    streamed_rows = StreamedRows(layout)
    streamed = passes(streamed_rows, wanted, size, 7, epoch)
    assert len(memory) == len(streamed) > 2
    for (i, a), (j, b) in zip(memory, streamed):
        assert np.array_equal(i, j) and np.array_equal(a, b)
        assert np.array_equal(a, ds.voice_features[i]), "each row is the window its index names"
    assert streamed_rows.timing.total_s > 0 and 0 <= streamed_rows.timing.wait_share <= 1


@pytest.mark.parametrize("streamed", [False, True], ids=["memory", "stream"])
def test_a_pass_resumed_after_some_batches_gives_the_rest_of_the_same_pass(sharded, ray_shared, streamed):
    """A trial resumed mid-epoch skips the windows it trained on (whole shards are not read again) and meets the same
    later batches as the uninterrupted epoch."""
    ds, layout = sharded
    train = ds.arrays["window_split.npy"] == "train"
    rows = StreamedRows(layout) if streamed else InMemoryRows(layout, ds.voice_features)
    whole = passes(rows, train, 8, 7, 2)
    skip = 8 * (max(layout.rows) // 8 + 1)  # past the first shard of the epoch's order
    rest = passes(rows, train, 8, 7, 2, skip)
    assert len(rest) == len(whole) - skip // 8 > 0
    for (i, a), (j, b) in zip(whole[skip // 8 :], rest):
        assert np.array_equal(i, j) and np.array_equal(a, b)


def test_the_size_rule_streams_only_what_does_not_fit():
    assert not streams(IN_MEMORY_LIMIT_BYTES) and streams(IN_MEMORY_LIMIT_BYTES + 1)
    assert streams(10, "stream") and not streams(10**12, "memory")
    with pytest.raises(ValueError, match="data mode 'disk'"):
        streams(10, "disk")


EXACT_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
"""glibc settings of the capped process, so that the cap counts what the process holds rather than what its allocator
keeps: a fixed mmap threshold returns every freed block over 128 KiB to the system (by default glibc raises the
threshold after such a free, and later blocks of that size stay in its heap once freed), and two arenas rather than
one per thread."""


@pytest.mark.slow
def test_a_dataset_larger_than_a_memory_cap_is_prepared_and_trained_on_only_when_streamed(small_raw, tmp_path):
    """The acceptance test of streaming: with the process's private memory capped (RLIMIT_DATA) at 128 MB above what it
    uses after a warm-up, a dataset of 170 MB of features is prepared (shard by shard) and the voice stage trained on it
    through Ray Data; the same with the features held in memory fails the cap."""
    big = tmp_path / "big"
    write_synth(big, SynthConfig(identities=24, clips_per_identity=4, min_seconds=40, max_seconds=50, videos_per_identity=1,
                                 photos_per_identity=3, absent_meta_rows=0))
    script = Path(__file__).with_name("capped_run.py")

    def capped(mode: str) -> dict:
        done = subprocess.run([sys.executable, str(script), str(small_raw), str(big), str(tmp_path / "out"), mode, "128"],
                              capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2], env={**os.environ, **EXACT_MALLOC})
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        assert lines, done.stderr[-3000:]
        return json.loads(lines[-1][len("RESULT "):])

    held = capped("memory")
    assert held["features_mb"] > held["margin_mb"], "the dataset is larger than the cap"
    assert not held["finished"] and held["error"].startswith("MemoryError"), held
    streamed = capped("stream")
    assert streamed["finished"] and streamed["epochs"] == 1, streamed
    assert streamed["peak_mb"] < streamed["margin_mb"]
