"""A trial's batches: one seeded order, the same batches from memory and streamed from shards through Ray Data."""

from __future__ import annotations

import numpy as np
import pytest

from v2f_bench.data.batches import IN_MEMORY_LIMIT_BYTES, InMemoryRows, ShardLayout, StreamedRows, shard_order, streams
from v2f_bench.data.prepared import VOICE_COLUMN, VOICE_SHARDS, PrepareConfig, load_prepared, prepare
from v2f_bench.data.sources import resolve_sources


@pytest.fixture(scope="module")
def sharded(small_raw, tmp_path_factory):
    """The tiny dataset in voice shards of 3 clips (7 shards)."""
    out = tmp_path_factory.mktemp("sharded") / "ds"
    prepare(resolve_sources(small_raw, None, None), out, PrepareConfig(shard_clips=3))
    ds = load_prepared(out)
    return ds, ShardLayout.of(ds, VOICE_SHARDS, VOICE_COLUMN)


def passes(rows, wanted, batch_size, seed=None, epoch=None):
    return [(index, batch.numpy()) for index, batch in rows.batches(wanted, batch_size, seed, epoch)]


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


def test_the_size_rule_streams_only_what_does_not_fit():
    assert not streams(IN_MEMORY_LIMIT_BYTES) and streams(IN_MEMORY_LIMIT_BYTES + 1)
    assert streams(10, "stream") and not streams(10**12, "memory")
    with pytest.raises(ValueError, match="data mode 'disk'"):
        streams(10, "disk")
