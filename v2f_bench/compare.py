"""Equal-budget comparison of generator families (Lucic et al. 2018; Dodge et al. 2019).

Every family gets the same declared ``Budget`` (trials, maximum epochs, wall-clock limit,
resources per trial, concurrency, scheduler), repeated over ``seeds`` independent searches whose
sampler and trial seeds differ. All searches share the voice embeddings and the judge, so only
the family differs. Everything lands under one experiment root::

    <storage>/<name>/compare.json            families, seeds, budget, resources, stages, per-search outcome
    <storage>/<name>/<family>-s<seed>/       one Ray Tune experiment per (family, seed), with v2f_search.json

The report reads that root; ``compare.json`` is rewritten after every search, so an interrupted
comparison still says what it finished. A family whose trials all fail is recorded as such
(``best`` None, with the reason) and the comparison goes on with the others.

``run_encoder_comparison`` repeats the same comparison (families, budget, seeds, judge, split) once
per voice encoder, each as a named sub-study ``<storage>/<name>/<encoder>/`` holding the layout above,
with ``<storage>/<name>/voice_encoders.json`` listing them; the report pairs the sub-studies by seed.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict
from pathlib import Path

from v2f_bench.artifacts import COMPARE_RECORD, ENCODERS_RECORD
from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig
from v2f_bench.search import Budget, best_result, default_space_file, read_record, run_search
from v2f_bench.storage import experiment


def _check_names(option: str, names: list[str], registry: dict, what: str) -> None:
    """Every name in ``names`` is registered in ``registry`` and none is listed twice; else a one-line error naming ``option``."""
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UserError(f"{option}: {unknown[0]!r} is not {what}; known: {', '.join(sorted(registry))}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"{option}: {repeated[0]!r} is listed twice")


def check_comparison(families: list[str], seeds: int, storage: str, name: str, base_seed: int = 0) -> None:
    """Everything about a comparison that can be checked in a second, before Ray starts or any stage
    trains: the families are known generator families, each has a valid default search space, the
    counts make sense, and the experiment root holds no earlier comparison (which it would mix with)."""
    from v2f_bench.models.registry import FAMILIES
    from v2f_bench.search_space import load_target_space

    if not families:
        raise UserError("--families: give at least one generator family, comma-separated (e.g. vae,cgan,rcgan)")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"--seeds {seeds!r}: must be at least 1")
    if base_seed < 0:
        raise UserError(f"--seed {base_seed}: must be a non-negative integer")
    _check_names("--families", families, FAMILIES, "a generator family")
    for family in families:
        load_target_space(family, default_space_file(family))
    root = experiment(storage, name)
    taken = root.read_json(COMPARE_RECORD) is not None or any(
        read_record(root.child(f"{family}-s{base_seed + k}")) is not None for family in families for k in range(seeds))
    if taken:
        raise UserError(f"{root}: holds an earlier comparison; choose another --name (or --storage) so its results stay as they are")



def run_comparison(
    families: list[str],
    seeds: int,
    budget: Budget,
    prepared,
    run_dir: Path,
    voice_config: dict,
    judge: JudgeConfig,
    storage: str,
    name: str,
    base_seed: int = 0,
    tracking=None,
    objectives: tuple = (),
    eval_unit: str = "window",
    fixed: dict | None = None,
    defaults_first: bool = False,
    voice_encoder: str | None = None,
    audio_root: Path | None = None,
    gallery: dict | None = None,
) -> dict:
    """Run ``len(families) * seeds`` searches under one root and return the comparison record.

    ``fixed`` settings go to every family that declares them (a width only the GANs have stays out of
    the VAE's trials); ``defaults_first`` makes each search's first trial the family's defaults;
    ``voice_encoder`` names the encoder whose embeddings every family gets (``voice_encoders``); ``gallery``
    sets the drawn Recall@K galleries (``tasks.generator.generator_data``)."""
    from v2f_bench.search_space import with_objectives
    from v2f_bench.search import search_setup

    check_comparison(families, seeds, storage, name, base_seed)
    budget.validate()
    root = experiment(storage, name)
    setups = {family: search_setup(family, default_space_file(family), prepared, run_dir, voice_config, judge, storage, eval_unit,
                                   voice_encoder, audio_root, gallery)
              for family in families}
    for family, setup in setups.items():
        setup.fixed = {k: v for k, v in (fixed or {}).items() if k in setup.declaration().searchable()}
        setup.defaults_first = defaults_first
        if objectives:
            setup.space = with_objectives(setup.space, objectives)
    record = {
        "families": families,
        "seeds": [base_seed + k for k in range(seeds)],
        "budget": asdict(budget),
        "fixed": {family: setup.fixed for family, setup in setups.items()},
        "defaults_first": defaults_first,
        "resources": _resources(),
        "prepared": prepared.manifest["cache_key"],
        "voice_encoder": next(iter(setups.values())).extra["voice_encoder"],
        "stages": next(iter(setups.values())).extra,
        "searches": [],
    }
    for k in range(seeds):
        seed = base_seed + k
        for family in families:
            search_name = f"{family}-s{seed}"
            results = run_search(setups[family], _search_budget(setups[family], budget), str(root), search_name, seed, tracking)
            row = {"family": family, "seed": seed, "experiment": search_name, "metric": setups[family].space.metric}
            try:
                best = best_result(results, setups[family].space)
                row.update(best=best["value"], trials=best["trials"], failed=best["failed"], error=None)
            except UserError as exc:
                row.update(best=None, trials=len(results), failed=sum(1 for r in results if r.error is not None), error=str(exc))
            search_record = read_record(root.child(search_name)) or {}
            row["wall_time_s"] = float(search_record.get("wall_time_s", 0.0))
            row["spent"] = search_record.get("spent")
            record["searches"].append(row)
            root.write_json(COMPARE_RECORD, record)
    record["record"] = str(root.child(COMPARE_RECORD))
    return record


def _search_budget(setup, budget: Budget) -> Budget:
    """``budget``, except that a reference family's search (``models.family.ReferenceFamily``: fitted, nothing searched) has one
    trial: more would repeat the same fit."""
    from dataclasses import replace

    return replace(budget, trials=1) if setup.data["families"][setup.target].reference else budget


def check_encoders(encoders: list[str], families: list[str], seeds: int, storage: str, name: str, base_seed: int = 0) -> None:
    """``check_comparison`` for a comparison over voice encoders: known, distinct encoders, and a root
    that holds no earlier study (neither one of its sub-studies nor a plain comparison)."""
    from v2f_bench.voice_encoders.registry import VOICE_ENCODERS

    if len(encoders) < 2:
        raise UserError("--voice-encoders: give at least two voice encoders, comma-separated (e.g. paper-text,ge2e); "
                        "for one, use --voice-encoder")
    _check_names("--voice-encoders", encoders, VOICE_ENCODERS, "a voice encoder")
    root = experiment(storage, name)
    if root.read_json(ENCODERS_RECORD) is not None or root.read_json(COMPARE_RECORD) is not None:
        raise UserError(f"{root}: holds an earlier comparison; choose another --name (or --storage) so its results stay as they are")
    for encoder in encoders:
        check_comparison(families, seeds, str(root), encoder, base_seed)


def run_encoder_comparison(encoders: list[str], families: list[str], seeds: int, budget: Budget, prepared, run_dir: Path, voice_config: dict,
                           judge: JudgeConfig, storage: str, name: str, base_seed: int = 0, **options) -> dict:
    """The same equal-budget comparison once per voice encoder, as sub-studies ``<name>/<encoder>``.

    Every sub-study has the same families, budget, seeds (so search k of each uses the same seed),
    judge (the run directory's judge stage, computed once and reused) and split; only the voice
    embeddings differ. The run directory's voice stage holds one encoder's embeddings at a time:
    each sub-study builds its searches' data from it before the next encoder replaces it.
    ``voice_config`` goes to the trainable encoders only. ``options`` are ``run_comparison``'s."""
    from v2f_bench.voice_encoders.registry import get_voice_encoder

    check_encoders(encoders, families, seeds, storage, name, base_seed)
    root = experiment(storage, name)
    record = {"voice_encoders": encoders, "families": families, "seeds": [base_seed + k for k in range(seeds)], "studies": {}}
    for encoder in encoders:
        config = voice_config if get_voice_encoder(encoder).trainable else {}
        study = run_comparison(families, seeds, budget, prepared, run_dir, config, judge, str(root), encoder, base_seed,
                               voice_encoder=encoder, **options)
        record["studies"][encoder] = {"experiment": encoder, "searches": study["searches"], "stages": study["stages"]}
        root.write_json(ENCODERS_RECORD, record)
    record["record"] = str(root.child(ENCODERS_RECORD))
    return record


def _resources() -> dict:
    """The cluster the budget was spent on, for the record (CPUs and GPUs Ray saw, and this machine)."""
    import ray

    resources = ray.cluster_resources() if ray.is_initialized() else {}
    return {"cluster_cpus": resources.get("CPU", 0), "cluster_gpus": resources.get("GPU", 0), "nodes": len(ray.nodes()) if ray.is_initialized() else 0,
            "driver_host_cpus": os.cpu_count(), "python": platform.python_version()}
