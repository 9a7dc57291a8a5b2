"""Stage folders of a run directory: each stage (voice, judge) writes into its own folder a ``stage.json``
recording the key it was computed for (the prepared dataset's cache key and the stage's parameters); a
later call with the same key reuses the folder as it is."""

from __future__ import annotations

import json
from pathlib import Path

STAGE_FILE = "stage.json"


def cached(folder: Path, key: str) -> dict | None:
    record = folder / STAGE_FILE
    try:
        content = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) and content.get("key") == key else None


def finish(folder: Path, key: str, content: dict) -> dict:
    content = {"key": key, **content}
    (folder / STAGE_FILE).write_text(json.dumps(content, indent=1))
    return content
