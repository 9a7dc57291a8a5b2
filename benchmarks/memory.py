"""Memory of processes and process trees, read from Linux's /proc (no extra dependency).

- USS (unique set size) = Private_Clean + Private_Dirty of ``/proc/PID/smaps_rollup``: memory only
  this process holds. Pages of Ray's object store mapped by several workers are not in it.
- PSS (proportional set size): private pages plus each shared page divided by the number of
  processes mapping it, so the PSS of a process tree sums to the memory the tree really uses.
- resident memory = Pss_Anon + Pss_Shmem: PSS without file-backed pages (program code, libraries and
  memory-mapped files such as the prepared arrays, which the kernel can drop and reread at any time).
Values are in bytes. On systems without /proc these return None.
"""

from __future__ import annotations

import os
from pathlib import Path


def smaps_rollup(pid: int) -> dict[str, int] | None:
    """The fields of ``/proc/PID/smaps_rollup`` in bytes, or None when the process is gone or unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name.strip()] = int(parts[0]) * 1024
    return fields


def uss(pid: int | None = None) -> int | None:
    fields = smaps_rollup(os.getpid() if pid is None else pid)
    return None if fields is None else fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree(root: int) -> list[int]:
    """``root`` and all its descendants (Ray's GCS, raylet and workers descend from the driver)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_resident(root: int) -> int:
    """Summed Pss_Anon + Pss_Shmem of ``root``'s process tree in bytes: the memory the tree holds
    that the kernel cannot drop (anonymous memory and shared memory such as Ray's object store)."""
    total = 0
    for pid in tree(root):
        fields = smaps_rollup(pid) or {}
        total += fields.get("Pss_Anon", 0) + fields.get("Pss_Shmem", 0)
    return total


def mib(value: float) -> float:
    return value / 2**20
