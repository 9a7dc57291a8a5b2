"""A prepared dataset on the S3 test server: published shard by shard, fetched into a local cache by checksum."""

from __future__ import annotations

import numpy as np
import pytest

from v2f_bench.data import remote
from v2f_bench.data.prepared import PrepareConfig, load_prepared, prepare
from v2f_bench.data.sources import resolve_sources
from v2f_bench.errors import UserError
from v2f_bench.storage import Location


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "v2f_bench" / "prepared"


def test_shards_round_trip_through_the_s3_server_byte_for_byte(prepared_dir, s3_storage, cache):
    uri = str(Location.parse(s3_storage).child("ds"))
    assert remote.publish(prepared_dir, uri)
    assert not remote.publish(prepared_dir, uri), "a URI that holds the same dataset is left as it is"
    local = remote.fetch(uri)
    manifest = load_prepared(prepared_dir).manifest
    assert any(name.endswith(".parquet") for name in manifest["outputs"])
    for name in manifest["outputs"]:
        assert (local / name).read_bytes() == (prepared_dir / name).read_bytes(), name
    fetched = load_prepared(uri, verify=True)
    np.testing.assert_array_equal(fetched.voice_features, load_prepared(prepared_dir).voice_features)
    before = {p: p.stat().st_mtime_ns for p in local.rglob("*.parquet")}
    remote.fetch(uri)
    assert {p: p.stat().st_mtime_ns for p in local.rglob("*.parquet")} == before, "a second fetch copies nothing"


def test_a_damaged_shard_on_the_server_is_refused_when_fetched(prepared_dir, s3_storage, cache):
    uri = str(Location.parse(s3_storage).child("ds"))
    remote.publish(prepared_dir, uri)
    shard = next(name for name in load_prepared(prepared_dir).manifest["outputs"] if name.startswith("voice/"))
    Location.parse(uri).child("voice").write_bytes(shard.split("/")[1], b"damaged")
    with pytest.raises(UserError, match="does not match its checksum"):
        remote.fetch(uri)


def test_prepare_publishes_to_a_uri_and_reuses_it(small_raw, s3_storage, cache):
    uri = str(Location.parse(s3_storage).child("published"))
    first = prepare(resolve_sources(small_raw, None, None), uri, PrepareConfig())
    assert first.out == uri and not first.reused
    again = prepare(resolve_sources(small_raw, None, None), uri, PrepareConfig())
    assert again.reused and again.manifest["cache_key"] == first.manifest["cache_key"]
    assert load_prepared(uri).n_windows == first.manifest["summary"]["windows"]


def test_a_uri_without_a_dataset_is_one_clear_error(s3_storage, cache):
    with pytest.raises(UserError, match="no prepared dataset there"):
        load_prepared(str(Location.parse(s3_storage).child("nothing")))


def test_a_trial_streams_a_fetched_dataset_straight_from_the_s3_server(prepared_dir, s3_storage, cache, ray_shared):
    """Ray Data's read tasks take the shards from the URI (any node can), and the batches are those from memory."""
    from v2f_bench.data.batches import InMemoryRows, StreamedRows
    from v2f_bench.voice_encoders.speaker_classifier import voice_data

    uri = str(Location.parse(s3_storage).child("ds"))
    remote.publish(prepared_dir, uri)
    data = voice_data(load_prepared(uri), "stream")
    assert data["streamed"] and all(f.startswith("s3://") for f in data["layout"].files)
    train = np.asarray(data["split"]) == "train"
    streamed = list(StreamedRows(data["layout"]).batches(train, 32, 0, 1))
    in_memory = list(InMemoryRows(data["layout"], load_prepared(prepared_dir).voice_features).batches(train, 32, 0, 1))
    assert len(streamed) == len(in_memory) > 1
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(np.asarray(a[1]), np.asarray(b[1])) for a, b in zip(streamed, in_memory))


def test_ray_tasks_write_the_shards_straight_to_the_uri_and_drop_rows_there(raw_copy, tmp_path, s3_storage, cache, ray_shared):
    """``prepare --address ... --out s3://...``: every shard is written to the bucket by the task that computes it (any
    node reaches it), never into the driver's folder; the rows of an identity dropped at the end are filtered out on the
    bucket; the dataset is the one a local run writes, byte for byte."""
    clips = sorted((raw_copy / "voxceleb2" / "dev" / "aac" / "id00234").rglob("*.*"))
    for clip in clips[:3]:
        clip.write_bytes(b"")  # id00234 keeps too few usable clips: dropped after its shards are written
    config = {"shard_clips": 3, "shard_photos": 8}
    local = prepare(resolve_sources(raw_copy, None, None), tmp_path / "local", PrepareConfig(**config)).manifest
    uri = str(Location.parse(s3_storage).child("cluster"))
    written = prepare(resolve_sources(raw_copy, None, None), uri, PrepareConfig(**config), address="auto")
    assert not written.reused and "id00234" not in {row["voice_id"] for row in written.manifest["identities"]}
    assert written.manifest["outputs"] == local["outputs"]
    assert not list(cache.rglob("*.parquet")), "the driver's folder holds the small arrays and the manifest, no shard"
    shard = Location.parse(uri).child(local["shards"]["voice"]["files"][0]["file"])
    assert shard.kind() == "file" and shard.sha256() == local["outputs"][local["shards"]["voice"]["files"][0]["file"]]
    fetched = load_prepared(uri, verify=True)
    np.testing.assert_array_equal(fetched.voice_features, load_prepared(tmp_path / "local").voice_features)
    assert prepare(resolve_sources(raw_copy, None, None), uri, PrepareConfig(**config), address="auto").reused
