"""The face judges by name.

Adding a judge: write one module with a ``Judge`` subclass (``v2f_bench.judges.base``) and add one
line to ``JUDGES`` below (or call ``register_judge`` from your own code, without editing this file).
``--judge``'s choices and help, ``judge_class``, the judge stage and the generator trials
all look judges up here.
"""

from __future__ import annotations

from v2f_bench.errors import UserError
from v2f_bench.judges.base import Judge
from v2f_bench.judges.dlib import DlibJudge
from v2f_bench.judges.facenet import CasiaWebfaceFacenet, TrainedFacenet, VGGFace2Facenet
from v2f_bench.registries import lookup, register

JUDGES: dict[str, type[Judge]] = {
    "trained": TrainedFacenet,
    "vggface2": VGGFace2Facenet,
    "casia-webface": CasiaWebfaceFacenet,
    "dlib": DlibJudge,
}


def get_judge(name: str) -> type[Judge]:
    """The judge class registered as ``name``; ``ValueError`` lists the known names otherwise."""
    return lookup(JUDGES, name, "judge")


def judge_class(config) -> type[Judge]:
    """The class of the judge a ``JudgeConfig`` names, its settings checked (``JudgeConfig.validate``); a one-line
    ``UserError`` for an unknown name."""
    if config.kind not in JUDGES:
        raise UserError(f"--judge {config.kind!r}: choose one of {', '.join(JUDGES)}")
    config.validate()
    return JUDGES[config.kind]


def register_judge(cls: type[Judge]) -> type[Judge]:
    """Add ``cls`` to ``JUDGES`` under ``cls.name``; usable as a class decorator (rules: ``registries.register``)."""
    return register(JUDGES, cls, Judge, "judge")
