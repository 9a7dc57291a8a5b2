"""Bounded Parquet shards of fixed-shape arrays: how a prepared dataset keeps its large arrays (voice features, face crops).

Why Parquet, not WebDataset tars: every consumer reads whole columns of fixed-shape rows (a window's features, a photo's
crop), which Parquet stores as one contiguous buffer per column that pyarrow hands to numpy without a copy; Ray Data reads
it natively (``ray.data.read_parquet``, one read task per file) with column projection; pyarrow, which Ray already
installs, writes and reads it on a local path or any storage URI ``pyarrow.fs`` opens. A tar of per-sample files suits
sequential streams of heterogeneous samples (raw images, audio), which the prepared dataset no longer holds.

A shard holds one or more columns, each a ``fixed_size_binary`` of one row's bytes (an array of a known dtype and shape,
C order, little endian), in one row group; the dtype and shape live in the dataset's manifest, not in the shard. The files
are written the same way in every process (no timestamps), so the same rows give the same bytes and the same checksum.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_shard(path: str | Path, columns: dict[str, np.ndarray], filesystem=None) -> int:
    """Write ``columns`` (each (N, ...) of one dtype, the same N) as one shard at ``path``; returns N.

    ``filesystem`` is a ``pyarrow.fs`` filesystem (default: the local one), so a Ray worker can write straight to the
    storage a cluster shares."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {len(array) for array in columns.values()}
    if len(rows) != 1:
        raise ValueError(f"the columns of a shard must have the same number of rows; got {sorted(rows)}")
    n = rows.pop()
    table = pa.table({name: _binary_column(array) for name, array in columns.items()})
    pq.write_table(table, str(path), filesystem=filesystem, row_group_size=max(n, 1), compression="snappy")
    return n


def _binary_column(array: np.ndarray):
    import pyarrow as pa

    array = np.ascontiguousarray(array)
    width = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(array), [None, pa.py_buffer(array.view(np.uint8).reshape(-1))])


def decode_column(column, dtype: str | np.dtype, shape: Sequence[int]) -> np.ndarray:
    """A ``fixed_size_binary`` column (a pyarrow ``ChunkedArray`` or ``Array``) -> (N, *shape) array of ``dtype``."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    data = column.buffers()[1]
    width = column.type.byte_width
    raw = np.frombuffer(data, dtype=np.uint8, count=width * (column.offset + len(column)))[width * column.offset :]
    return raw.view(np.dtype(dtype).newbyteorder("<")).reshape(len(column), *shape)


def read_rows(path: str | Path, column: str, dtype: str | np.dtype, shape: Sequence[int], filesystem=None) -> np.ndarray:
    """One column of one shard as an (N, *shape) array (a view of the table's buffer).

    Arrow's memory pool (mimalloc) keeps the pages of freed tables for reuse, so reading shard after shard would grow
    the process by the size of everything read; what the earlier shards left is handed back to the system first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.default_memory_pool().release_unused()
    table = pq.read_table(str(path), columns=[column], filesystem=filesystem)
    return decode_column(table.column(column), dtype, shape)


def keep_rows(path: str | Path, mask: np.ndarray, filesystem=None) -> int:
    """Rewrite the shard at ``path`` (on ``filesystem``, default the local one) with only the rows where ``mask`` is true
    (every column); returns the rows left."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(path), filesystem=filesystem)
    kept = table.filter(np.asarray(mask, dtype=bool))
    pq.write_table(kept, str(path), filesystem=filesystem, row_group_size=max(kept.num_rows, 1), compression="snappy")
    return kept.num_rows


class EmbeddingShards:
    """A stage's embeddings written a shard at a time as ``folder/<name>/part-NNNNN.parquet`` (float32 rows in one
    column), each shard beside the prepared shard it embeds (``first``: its first row), and their spec, as a prepared
    manifest writes one (``batches.ShardLayout.from_spec`` reads it)."""

    def __init__(self, folder: str | Path, name: str, column: str):
        self.folder, self.name, self.column = Path(folder), name, column
        self.files: list[dict] = []
        (self.folder / name).mkdir(parents=True, exist_ok=True)

    def write(self, first: int, embeddings: np.ndarray) -> None:
        file = f"{self.name}/part-{len(self.files):05d}.parquet"
        write_shard(self.folder / file, {self.column: np.ascontiguousarray(embeddings, dtype=np.float32)})
        self.files.append({"file": file, "first": int(first), "rows": len(embeddings)})

    def spec(self, dim: int) -> dict:
        return {"files": self.files, "dtype": "float32", "columns": {self.column: [int(dim)]}}
