"""The batches a trial trains and evaluates on: the same batches from memory or streamed from shards through Ray Data.

A trial's rows (a prepared dataset's windows) live in shards (``data.shards``; the prepared dataset deals its clips to
them round-robin, so every shard holds every identity). One order serves both paths (``shard_order``): in epoch e, with
a ``torch.Generator`` seeded seed * 1000 + e, the shards are permuted, then the wanted rows of each shard (those of the
split) are permuted within it, shard after shard; batches are consecutive runs of that sequence. Evaluation passes read
the wanted rows in storage order. This is a seeded local shuffle with the shard as its buffer; Ray Data's own
``local_shuffle_buffer_size`` was not used because its order depends on block boundaries and on how full the buffer
runs, which an in-memory path cannot reproduce.

- ``InMemoryRows`` holds the column whole (through the object store, shared by the trials of a node) and takes rows by
  index: cheaper for data that fits, so the embedded default uses it.
- ``StreamedRows`` holds only the shard list: each pass is a Ray Data dataset of the shards in the pass's order, one
  read task per shard (order preserved, two blocks prefetched), executed as the loop consumes it, so a trial holds a few
  shards whatever the dataset's size. Its read tasks need CPUs that the trials do not hold (``DATA_CPUS``: the search
  leaves them free). The tasks read with pyarrow inside ``map_batches`` rather than through ``ray.data.read_parquet``:
  on Ray 2.60 that resolves paths in threads that import ``fsspec.implementations.http``, and without aiohttp (not in
  our lock) the concurrent imports race into an ``ImportError`` Ray does not catch.

Which a trial gets is one rule, ``streams``: stream when the column is larger than ``IN_MEMORY_LIMIT_BYTES``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from v2f_bench.data import shards

IN_MEMORY_LIMIT_BYTES = 2 * 1024**3
"""Above this, a trial streams its rows from the shards instead of holding them (``streams``)."""
DATA_CPUS = 1
"""CPUs a search leaves free for the read tasks of streaming trials, so that Tune's trials cannot starve them."""
DATA_MODES = ("auto", "memory", "stream")
"""How a trial gets its rows: by the size rule (``streams``), always whole in memory, or always streamed."""


_chosen = {"mode": "auto"}


def set_data_mode(mode: str) -> None:
    """The data mode of the trials this process sets up (the commands' ``--data-path``); one of ``DATA_MODES``."""
    if mode not in DATA_MODES:
        raise ValueError(f"data mode {mode!r}: choose one of {', '.join(DATA_MODES)}")
    _chosen["mode"] = mode


def data_mode() -> str:
    return _chosen["mode"]


def streams(column_bytes: int, mode: str | None = None) -> bool:
    """Whether a column of ``column_bytes`` is streamed under ``mode`` (one of ``DATA_MODES``; default ``data_mode()``)."""
    mode = data_mode() if mode is None else mode
    if mode not in DATA_MODES:
        raise ValueError(f"data mode {mode!r}: choose one of {', '.join(DATA_MODES)}")
    return mode == "stream" or (mode == "auto" and column_bytes > IN_MEMORY_LIMIT_BYTES)


@dataclass(frozen=True)
class ShardLayout:
    """Where the rows live: each shard's file, first global row and row count, in storage order, and the column's dtype
    and row shape."""

    files: tuple[str, ...]
    first: tuple[int, ...]
    rows: tuple[int, ...]
    column: str
    dtype: str
    shape: tuple[int, ...]

    @classmethod
    def of(cls, prepared, kind: str, column: str, local: bool = False) -> ShardLayout:
        """The layout of ``column`` of a prepared dataset's ``kind`` shards (``voice`` or ``faces``). A dataset fetched from
        a storage URI is read from there (any node of a cluster can), unless ``local`` (a pass of this process's own,
        which reads the fetched copy); a local one from its folder, which on a multi-node cluster must be on a file system
        every node mounts at the same path."""
        source = None if local else getattr(prepared, "source", None)
        return cls.from_spec(prepared.manifest["shards"][kind], column, source or prepared.path)

    @classmethod
    def from_spec(cls, spec: dict, column: str, base) -> ShardLayout:
        """The layout a shard spec describes ({"files": [{"file", "first", "rows"}...], "dtype", "columns": {name: shape}},
        as a prepared dataset's manifest and the judge stage's record write it), its files relative to ``base`` (a folder
        or a storage URI)."""
        from v2f_bench.storage import Location, is_uri

        if column not in spec["columns"]:
            from v2f_bench.errors import UserError

            raise UserError(f"{base}: no {column} column in its shards (it has {', '.join(sorted(spec['columns']))}); prepare the dataset "
                            "again with that size")
        parts = spec["files"]
        if is_uri(str(base)):
            files = tuple(str(Location.parse(str(base)).child(p["file"])) for p in parts)
        else:
            files = tuple(str(Path(base, p["file"]).resolve()) for p in parts)
        return cls(files, tuple(p["first"] for p in parts), tuple(p["rows"] for p in parts), column, spec["dtype"],
                   tuple(spec["columns"][column]))

    @classmethod
    def in_memory(cls, array: np.ndarray, column: str = "rows") -> ShardLayout:
        """A one-shard layout of rows given as an array (no file: only ``InMemoryRows`` reads it), so that code written
        for a trial's rows also takes an array."""
        return cls(("",), (0,), (len(array),), column, str(array.dtype), tuple(array.shape[1:]))

    @property
    def total(self) -> int:
        return sum(self.rows)

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        """The whole column's size: what ``streams`` weighs."""
        return self.total * self.row_bytes


def shard_order(layout: ShardLayout, wanted: np.ndarray, seed: int | None = None, epoch: int | None = None,
                skip: int = 0) -> list[tuple[int, np.ndarray]]:
    """(shard, positions in it) of the rows where ``wanted`` holds, in the order a pass reads them: shuffled for a training
    epoch (``seed`` and ``epoch`` given; see the module docstring), else in storage order, without the first ``skip`` rows
    (a pass resumed after them: whole shards are left unread). Shards with no wanted row are left out."""
    import torch

    wanted = np.asarray(wanted, dtype=bool)
    if epoch is None:
        order, generator = range(len(layout.files)), None
    else:
        generator = torch.Generator().manual_seed(int(seed) * 1000 + int(epoch))
        order = torch.randperm(len(layout.files), generator=generator).tolist()
    out = []
    for k in order:
        positions = np.flatnonzero(wanted[layout.first[k] : layout.first[k] + layout.rows[k]])
        if generator is not None:
            positions = positions[torch.randperm(len(positions), generator=generator).numpy()]
        if skip >= len(positions):
            skip -= len(positions)
        else:
            out.append((k, positions[skip:]))
            skip = 0
    return out


@dataclass
class PassTiming:
    """What a pass spent waiting for its data, against its whole time (the data path's goal: under 5 %)."""

    wait_s: float = 0.0
    total_s: float = 0.0

    @property
    def wait_share(self) -> float:
        return self.wait_s / self.total_s if self.total_s > 0 else 0.0


@dataclass
class InMemoryRows:
    """The column whole, as an array (from the object store: shared, never copied); rows are taken by index."""

    layout: ShardLayout
    array: np.ndarray
    timing: PassTiming = field(default_factory=PassTiming)

    def batches(self, wanted: np.ndarray, batch_size: int, seed: int | None = None, epoch: int | None = None,
                skip: int = 0) -> Iterator[tuple[np.ndarray, "torch.Tensor"]]:
        """(global row indices, rows) of each batch of a pass (``shard_order``), after its first ``skip`` rows (a multiple of
        ``batch_size`` gives the pass's later batches unchanged)."""
        parts = shard_order(self.layout, wanted, seed, epoch, skip)
        index = np.concatenate([self.layout.first[k] + positions for k, positions in parts]) if parts else np.zeros(0, dtype=np.int64)
        from v2f_bench.runtime import shared_tensor

        started = time.perf_counter()
        data = shared_tensor(self.array)
        for start in range(0, len(index), batch_size):
            rows = index[start : start + batch_size]
            yield rows, data[rows]
        self.timing.total_s += time.perf_counter() - started


@dataclass
class StreamedRows:
    """The shards only; each pass streams them through Ray Data (see the module docstring)."""

    layout: ShardLayout
    timing: PassTiming = field(default_factory=PassTiming)

    def batches(self, wanted: np.ndarray, batch_size: int, seed: int | None = None, epoch: int | None = None,
                skip: int = 0) -> Iterator[tuple[np.ndarray, "torch.Tensor"]]:
        """The batches ``InMemoryRows.batches`` gives for the same arguments, read shard by shard through Ray Data."""
        parts = shard_order(self.layout, wanted, seed, epoch, skip)
        if not parts:  # nothing wanted (an empty split): no pass to run, as in memory
            return
        started = time.perf_counter()
        held: list[tuple[np.ndarray, np.ndarray]] = []  # (indices, rows) of shards read but not yet batched
        count = 0
        for k, positions, table in self._shards(parts):
            rows = shards.decode_column(table.column(self.layout.column), self.layout.dtype, self.layout.shape)
            held.append((self.layout.first[k] + positions, rows[positions]))
            count += len(positions)
            while count >= batch_size:
                count -= batch_size
                yield _take(held, batch_size)
        if count:
            yield _take(held, count)
        self.timing.total_s += time.perf_counter() - started

    def _shards(self, parts: list[tuple[int, np.ndarray]]):
        """(shard, positions, its whole table) in ``parts``' order, read by Ray Data: one read task per shard, order kept,
        the blocks of a shard that Ray split joined again."""
        import pyarrow as pa
        import ray.data

        from v2f_bench.console import set_verbose, verbose

        set_verbose(verbose())  # Ray Data sets its loggers' levels when imported: its lines only with --verbose
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = context.enable_operator_progress_bars = False  # the console shows the trial's progress, not Ray Data's
        context.print_on_execution_start = context.execution_options.verbose_progress = False
        context.target_max_block_size = max(context.target_max_block_size or 0, 2 * max(self.layout.rows) * self.layout.row_bytes)
        paths = [{"path": self.layout.files[k]} for k, _ in parts]
        dataset = ray.data.from_items(paths, override_num_blocks=len(paths)).map_batches(
            _read_shards, batch_size=1, batch_format="pyarrow", fn_kwargs={"column": self.layout.column}, num_cpus=DATA_CPUS)
        blocks = iter(dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2))
        for k, positions in parts:
            pieces, have = [], 0
            while have < self.layout.rows[k]:
                started = time.perf_counter()
                block = next(blocks)
                self.timing.wait_s += time.perf_counter() - started
                pieces.append(block)
                have += block.num_rows
            if have != self.layout.rows[k]:
                raise ValueError(f"{self.layout.files[k]}: {have} rows read, the manifest lists {self.layout.rows[k]}")
            yield k, positions, pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def rows_for(layout: ShardLayout, array: np.ndarray | None):
    """A trial's rows: ``InMemoryRows`` over ``array`` when the trial data holds the column, else (None) ``StreamedRows``."""
    return StreamedRows(layout) if array is None else InMemoryRows(layout, array)


def take_rows(layout: ShardLayout, index) -> np.ndarray:
    """Rows ``index`` (global, in that order, repeats allowed) of the layout's column, reading only the shards that hold
    one of them, one at a time: the memory of the rows taken plus one shard."""
    index = np.asarray(index, dtype=np.int64)
    out = np.empty((len(index), *layout.shape), dtype=layout.dtype)
    if len(index) and (index.min() < 0 or index.max() >= layout.total):
        raise IndexError(f"rows {index.min()}..{index.max()} of a column of {layout.total}")
    shard = np.searchsorted(layout.first, index, side="right") - 1
    for k in np.unique(shard):
        where = np.flatnonzero(shard == k)
        out[where] = read_column(layout, int(k))[index[where] - layout.first[k]]
    return out


def whole_column(layout: ShardLayout) -> np.ndarray:
    """The layout's whole column as one array, filled shard by shard: the column plus one shard (for data under the
    streaming rule's size)."""
    out = np.empty((layout.total, *layout.shape), dtype=layout.dtype)
    for k in range(len(layout.files)):
        rows = read_column(layout, k)
        if len(rows) != layout.rows[k]:
            raise ValueError(f"{layout.files[k]}: {len(rows)} rows, its spec lists {layout.rows[k]}")
        out[layout.first[k] : layout.first[k] + layout.rows[k]] = rows
    return out


def read_column(layout: ShardLayout, k: int) -> np.ndarray:
    """The layout's column of shard ``k`` (a local path or a storage URI) as an (rows, *shape) array."""
    from v2f_bench.storage import Location

    where = Location.parse(layout.files[k])
    return shards.read_rows(where.path, layout.column, layout.dtype, layout.shape, filesystem=where.fs)


def _read_shards(batch, column: str):
    """A Ray Data task: the shards whose paths or storage URIs ``batch`` holds, ``column`` only, as one Arrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from v2f_bench.storage import Location

    tables = []
    for path in batch.column("path").to_pylist():
        where = Location.parse(path)
        tables.append(pq.read_table(where.path, columns=[column], filesystem=where.fs))
    return pa.concat_tables(tables)


def _take(held: list[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, "torch.Tensor"]:
    """The first ``n`` rows held, with their indices, removed from ``held`` (each row is copied once, into its batch)."""
    import torch

    indices, rows, need = [], [], n
    while need:
        index, block = held[0]
        indices.append(index[:need])
        rows.append(block[:need])
        if len(index) > need:
            held[0] = (index[need:], block[need:])
            need = 0
        else:
            held.pop(0)
            need -= len(index)
    return np.concatenate(indices), torch.from_numpy(np.concatenate(rows))
