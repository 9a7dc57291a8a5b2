"""The face judges by name.

Adding a judge: write one module with a ``Judge`` subclass (``v2f_bench.judges.base``) and add one
line to ``JUDGES`` below (or call ``register_judge`` from your own code, without editing this file).
``--judge``'s choices and help, ``JudgeConfig.validate``, the judge stage and the generator trials
all look judges up here.
"""

from __future__ import annotations

from v2f_bench.judges.base import Judge
from v2f_bench.judges.dlib import DlibJudge
from v2f_bench.judges.facenet import CasiaWebfaceFacenet, TrainedFacenet, VGGFace2Facenet

JUDGES: dict[str, type[Judge]] = {
    "trained": TrainedFacenet,
    "vggface2": VGGFace2Facenet,
    "casia-webface": CasiaWebfaceFacenet,
    "dlib": DlibJudge,
}


def get_judge(name: str) -> type[Judge]:
    """The judge class registered as ``name``; ``ValueError`` lists the known names otherwise."""
    try:
        return JUDGES[name]
    except KeyError:
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(sorted(JUDGES))}") from None


def register_judge(cls: type[Judge]) -> type[Judge]:
    """Add ``cls`` to ``JUDGES`` under ``cls.name``; usable as a class decorator.

    Re-registering the same class is a no-op; taking a name already held by another class is
    a ``ValueError``, so a typo cannot silently replace a built-in judge.
    """
    if not (isinstance(cls, type) and issubclass(cls, Judge)):
        raise ValueError(f"{cls!r} is not a Judge subclass")
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no `name`; set the class attribute `name = '...'`")
    if JUDGES.get(cls.name, cls) is not cls:
        raise ValueError(f"judge name {cls.name!r} is already registered to {JUDGES[cls.name].__name__}")
    JUDGES[cls.name] = cls
    return cls
