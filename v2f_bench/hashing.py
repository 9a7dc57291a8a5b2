"""Content hashes used to name inputs and outputs in manifests and to decide cache reuse."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return sha256_stream(handle)


def sha256_stream(stream) -> str:
    """The hash of everything left in ``stream`` (anything with ``read(n)``: a file, a pyarrow stream), a block at a time."""
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_json(value) -> str:
    """Hash of a JSON-serialisable value in canonical form (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
