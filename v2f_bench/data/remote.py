"""A prepared dataset on a storage URI (``s3://...``, any URI ``pyarrow.fs`` opens): published from a local one, fetched
into a local cache by checksum.

A cluster's nodes share a prepared dataset through storage rather than a shared disk: ``prepare --out URI`` has the
processes that compute the shards (the Ray tasks of ``--address``, on any node) write them to the URI, then publishes the
small arrays and the manifest it built locally; ``--prepared URI`` fetches it. Publishing copies every output not yet
there (streamed file by file, never whole in memory) and then the manifest, so a reader never meets a manifest whose
files are not all there; a URI that already holds a manifest of the same cache key with every output is left as it is. Fetching
copies into ``<cache>/<cache key>`` every output whose local copy is missing or differs from its SHA-256 in the
manifest, checks each copied file against that checksum, and writes the manifest last; a second fetch copies nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from v2f_bench.artifacts import PREPARED_MANIFEST as MANIFEST
from v2f_bench.errors import UserError
from v2f_bench.hashing import sha256_file
from v2f_bench.storage import Location


def default_cache() -> Path:
    """Where fetched datasets are kept: ``$XDG_CACHE_HOME/v2f_bench/prepared`` (default ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "v2f_bench" / "prepared"


def publish(local: Path, uri: str, written: set[str] = frozenset()) -> bool:
    """Copy the prepared dataset at ``local`` to ``uri``, the manifest last; False when ``uri`` already held it.
    ``written``: outputs already at ``uri`` (shards its tasks wrote there), not copied."""
    from pyarrow import fs

    manifest = json.loads((Path(local) / MANIFEST).read_text())
    target = Location.parse(uri)
    try:
        if held(target, manifest["cache_key"]) is not None:
            return False
        target.remove(MANIFEST)  # first: files overwritten below must never sit beside an earlier dataset's manifest
        for name in (name for name in manifest["outputs"] if name not in written):
            target.child(name).parent.makedirs()
            fs.copy_files(str(Path(local) / name), target.child(name).path, source_filesystem=fs.LocalFileSystem(),
                          destination_filesystem=target.fs)
        target.write_bytes(MANIFEST, (Path(local) / MANIFEST).read_bytes())
    except OSError as exc:
        raise UserError(f"--out {uri}: cannot write the prepared dataset there ({str(exc).splitlines()[0]}); check the URI and its credentials") from None
    return True


def fetch(uri: str, cache: Path | None = None) -> Path:
    """The prepared dataset at ``uri`` as a local folder under ``cache`` (default ``default_cache()``), copying only what
    the local copy lacks; every copied file is checked against its checksum."""
    from pyarrow import fs

    source = Location.parse(uri)
    manifest = _manifest_at(source)
    if manifest is None or not isinstance(manifest.get("outputs"), dict) or "cache_key" not in manifest:
        raise UserError(f"{uri}: no prepared dataset there (no readable {MANIFEST}); publish one with `v2f-bench prepare --out {uri}`")
    local = Path(cache or default_cache()) / manifest["cache_key"][:32]
    try:
        for name, digest in manifest["outputs"].items():
            _fetch_file(source, name, digest, local / name, uri)
        (local / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except PermissionError as exc:
        raise UserError(f"{local}: cannot write the fetched dataset there ({exc.strerror}); set XDG_CACHE_HOME to a writable folder") from None
    return local


def _fetch_file(source: Location, name: str, digest: str, file: Path, uri: str) -> None:
    """One output into ``file`` unless it is there with ``digest``: copied beside it, checked, then moved into place (so
    two processes fetching at once never see each other's half-written file)."""
    from pyarrow import fs

    if file.is_file() and sha256_file(file) == digest:
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.{os.getpid()}.partial")
    try:
        fs.copy_files(source.child(name).path, str(partial), source_filesystem=source.fs, destination_filesystem=fs.LocalFileSystem())
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"{uri}/{name}: cannot be read ({str(exc).splitlines()[0]}); publish the dataset again") from None
    if sha256_file(partial) != digest:
        partial.unlink()
        raise UserError(f"{uri}/{name}: content does not match its checksum in {MANIFEST}; publish the dataset again")
    os.replace(partial, file)


def held(location: Location, cache_key: str) -> dict | None:
    """The manifest at ``location`` when it is a dataset of ``cache_key`` with every output there; else None."""
    there = _manifest_at(location)
    if there is not None and there.get("cache_key") == cache_key and _complete(location, there):
        return there
    return None


def _manifest_at(location: Location) -> dict | None:
    found = location.read_json(MANIFEST)
    return found if isinstance(found, dict) else None


def _complete(location: Location, manifest: dict) -> bool:
    return all(location.child(name).kind() == "file" for name in manifest.get("outputs", {}))
