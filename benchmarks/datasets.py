"""The data the benchmark sections share: the embedded synthetic set, prepared once per suite run."""

from __future__ import annotations

from pathlib import Path

from v2f_bench.data.prepared import PrepareConfig, PreparedDataset, load_prepared, prepare
from v2f_bench.data.sources import resolve_sources
from v2f_bench.data.synth import SMALL, SynthConfig, write_synth


def prepared_dataset(folder: Path, small: bool) -> PreparedDataset:
    """The embedded default synthetic set (``small``: the test-sized one) prepared under ``folder``.

    The folder names are those ``v2f-bench paper --out FOLDER`` uses (``data``, ``prepared``), so
    after the main-command section has run the default profile there, this reuses its data."""
    folder = Path(folder)
    raw = folder / ("data-small" if small else "data")
    if not (raw / "synth.json").is_file():
        write_synth(raw, SynthConfig(**(SMALL if small else {})))
    out = folder / ("prepared-small" if small else "prepared")
    prepare(resolve_sources(raw, None, None), out, PrepareConfig())
    return load_prepared(out)
