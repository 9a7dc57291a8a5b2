"""The tasks by role, and the search targets they serve.

Adding a task: one module with a ``tasks.base.Task`` subclass and one line in ``TASKS`` below (or a call to
``register_task`` from your own code). The CLI, the searches and the trainable find it by role through
``task_of`` / ``get_target``; nothing branches on a target's name.
"""

from __future__ import annotations

from collections.abc import Mapping

from v2f_bench.errors import UserError
from v2f_bench.registries import register
from v2f_bench.targets import Target
from v2f_bench.tasks.base import Task
from v2f_bench.tasks.generator import GeneratorTask
from v2f_bench.tasks.judge import JudgeTask
from v2f_bench.tasks.voice import VoiceTask

TASKS: dict[str, type[Task]] = {
    "voice": VoiceTask,
    "judge": JudgeTask,
    "generator": GeneratorTask,
}


def register_task(cls: type[Task]) -> type[Task]:
    """Add ``cls`` to ``TASKS`` under its ``role``; usable as a class decorator. Its targets may not take a
    name that another task serves."""
    if isinstance(cls, type) and issubclass(cls, Task):
        taken = {name for role, task in TASKS.items() if role != cls.role for name in task.names()}
        clash = sorted(set(cls.names()) & taken)
        if clash:
            raise ValueError(f"task {cls.role!r} serves {clash[0]!r}, a target of another task; choose another name")
    return register(TASKS, cls, Task, "task")


def task_of(target: str, families: Mapping[str, type] | None = None) -> type[Task]:
    """The task serving search target ``target``; unknown: a one-line ``UserError`` listing the known targets."""
    for task in TASKS.values():
        if target in task.names(families):
            return task
    known = ", ".join(name for task in TASKS.values() for name in task.names(families))
    raise UserError(f"unknown target {target!r}; known targets: {known}")


def get_target(name: str, voice_encoder: str | None = None, families: Mapping[str, type] | None = None) -> Target:
    """The declaration of target ``name`` (``voice_encoder``: the encoder a ``voice`` target trains, default the
    default encoder; ``families``: the family registry to read, default ``FAMILIES``)."""
    return task_of(name, families).target(name, voice_encoder, families)
