"""``v2f-bench paper``: the whole study on the embedded default, from synthetic data to the report.

synth -> prepare -> voice classifier search -> (best voice trial becomes the voice stage) -> judge
training and tau calibration -> equal-budget comparison of vae, cgan and rcgan over several seeds, beside the
two reference families (mean-face, nearest-identity: fitted once, ``STUDY_FAMILIES``) -> report. A profile sets the sizes:

- ``default``: aims at 15 minutes on a 2-core laptop (``python -m benchmarks`` measures it). Every
  family and seed gets the same compute, 1.2 TFLOP of training (about one C-GAN epoch at the declared
  widths), with its defaults (the paper's settings) as the one trial of its search, so the
  intervals over the 3 paired seeds measure training noise, not sampling luck. Each trial spends its whole
  budget (``budget_flops``; the epoch cap ``EPOCH_CAP`` never binds) and evaluates at 4 rungs of it (1/8, 1/4,
  1/2, 1: the ladder of budgets, ``report/ladder.py``). The budget is what fits the aim: evaluation is a large
  part of a trial's time (the judge embeds about 920 generated faces at each point, about 7 s on 2 cores), and
  ``reports/convergence/`` shows that no GAN learns below about 5 TFLOP anyway, while the VAE's ladder over
  these rungs covers its learning (its validation Table I rises from about 5 % to 55 %). The GANs run at widths
  16 (``g_channels``/``d_channels``; the paper's are 64) in fp32, each trial on both cores,
  and every test voice window is one decision (453 per seed). The faces stay 64x64: ``image_size`` 32 was
  measured worse for the VAE at the same FLOPs and no better for the GANs (``reports/convergence/32px/``);
- ``small``: the tiny synthetic set, for tests and smoke runs (a few minutes), exercising the same
  compute budget, widths, precision and paired seeds;
- the laptop profiles (``default``, ``small``, ``unseen``) train in fp32: on a CPU without bfloat16
  instructions (``provenance.cpu_bf16_instructions``; this project's 2-core AMD EPYC machines) bf16
  autocast measured 16-36x slower than fp32 per step (``python -m benchmarks``, train section);
- ``full``: the paper's settings (20 generator epochs as the authors' code, 16 trials per family,
  5 seeds, a GPU per trial, widths 64, fp32): meant for a GPU cluster (``--address auto --storage s3://...``);
- ``unseen``: the peers' identity-disjoint study (Wen et al. 2019, SF2F) at peer scale on embedded data:
  100 synthetic identities (8 short clips and 12 photos each), the ``unseen`` protocol at 0.6/0.2/0.2
  (60 train identities; 20 validation identities select the trials; 20 test identities, whom neither
  the voice classifier, the judge nor any generator trained on, give the numbers), one face per clip,
  and Recall@1/2/5/10 over drawn galleries of G = 100 identities (SF2F's), capped at the 20 test
  identities and so G = 20 with chance K/20 (one gallery per face: the whole test split). A smaller
  budget than ``default`` (2 seeds, 1.2 TFLOP per search): 8 minutes measured on 2 idle cores with the
  reference families (51 minutes on 2 cores shared with other jobs, before them). On the stand-in its report
  carries the known answer (``known_answer.py``): the ceiling of 1:2 matching and Recall@K at G = 20, and the
  trait probe on the 40 unseen identities' voice embeddings.

- ``diffusion``: ``default`` with the diffusion family beside the others (the same data, stages, budget of 1.2 TFLOP of
  training per run, rungs and seeds). It is a profile of its own because ``default`` already runs past its 15-minute aim
  and diffusion adds about 6 minutes (24.4 min measured): every evaluation draws each face through the sampler's steps (8 network passes,
  about 0.67 GFLOP per face against 0.011 for the VAE). The report reads the ladder at equal total compute as well
  (training and evaluation FLOPs), where that cost counts; ``--budget-counts train+eval`` makes the budget itself count it.

Every stage is cached or rerun as its own command would be; searches start afresh each run. Once Ray
is connected, before the first search (and before the previous run's searches are deleted), the
largest trial of the profile is checked against the cluster's nodes (``resources.check_trial_resources``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from v2f_bench.errors import UserError


STUDY_FAMILIES = ("vae", "cgan", "rcgan", "mean-face", "nearest-identity")
"""The families of every study unless told otherwise (``paper``'s profiles, ``compare``'s default): the paper's three and
the two reference families (``models.family.ReferenceFamily``), the rows every trained family has to beat."""
DIFFUSION_FAMILIES = ("vae", "cgan", "rcgan", "diffusion", "mean-face", "nearest-identity")
"""The ``diffusion`` profile's families: the study's, and the field's current line (``models/diffusion.py``)."""


@dataclass(frozen=True)
class Profile:
    synth: dict = field(default_factory=dict)
    voice_trials: int = 2
    voice_epochs: int = 8
    judge_epochs: int = 8
    families: tuple[str, ...] = STUDY_FAMILIES
    seeds: int = 3
    trials: int = 2
    max_epochs: int = 1
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    generator_cpus_per_trial: float | None = None
    """CPUs of a generator trial when they differ from the voice search's ``cpus_per_trial``."""
    generator_concurrency: int | None = None
    """Generator trials at once when that differs from the voice search's ``concurrency``."""
    compute_budget: str | None = None
    """Compute per generator search (``--compute-budget``), the same for every family and seed; with it,
    ``trials`` and ``max_epochs`` are caps."""
    budget_counts: str = "train"
    """What a FLOP ``compute_budget`` counts (``compute.BUDGET_COUNTS``; ``paper --budget-counts``)."""
    fixed: dict = field(default_factory=dict)
    """Settings of every generator trial that declares them: network widths and precision."""
    defaults_first: bool = False
    """Each generator search's first trial is the family's defaults (the paper's settings)."""
    rungs: int = 0
    """With a FLOP ``compute_budget``: every generator trial gets its share (the budget over ``trials``) as
    ``budget_flops`` and evaluates at ``rungs`` log-spaced fractions of it (the ladder of budgets); 0 = after every epoch."""
    eval_unit: str = "window"
    """What one validation or test decision of a generator is (``tasks.generator.EVAL_UNITS``)."""
    protocol: str = "paper"
    """The split protocol of ``prepare`` (``splits.SPLIT_PROTOCOLS``)."""
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Train, val and test fractions of ``prepare`` (of identities under ``unseen``)."""
    gallery: dict = field(default_factory=dict)
    """Drawn Recall@K galleries ({"size": G, "draws": R}; defaults ``metrics.GALLERY_SIZE`` and ``GALLERY_DRAWS``)."""

    @property
    def largest_trial(self) -> tuple[float, float]:
        """(CPUs, GPUs) of the profile's largest trial, voice or generator."""
        return max(self.cpus_per_trial, self.generator_cpus_per_trial or 0.0), self.gpus_per_trial


EPOCH_CAP = 1000
"""``max_epochs`` of the profiles with a FLOP budget: a cap that the budget reaches first, so that no family stops early
(the compute table shows what each search spent; one that spent less than its budget would show it)."""

PROFILES = {
    "default": Profile(seeds=3, trials=1, max_epochs=EPOCH_CAP, generator_cpus_per_trial=2.0, generator_concurrency=1, compute_budget="1.2TFLOP",
                       fixed={"g_channels": 16, "d_channels": 16, "precision": "fp32"}, defaults_first=True, rungs=4),
    "small": Profile(synth={"small": True}, voice_epochs=2, judge_epochs=2, seeds=2, trials=1, max_epochs=EPOCH_CAP, compute_budget="30GFLOP",
                     fixed={"g_channels": 16, "d_channels": 16, "precision": "fp32"}, defaults_first=True, rungs=2),
    "full": Profile(voice_trials=8, voice_epochs=50, judge_epochs=20, seeds=5, trials=16, max_epochs=20, concurrency=4, gpus_per_trial=1.0),
    "unseen": Profile(synth={"identities": 100, "clips_per_identity": 8, "min_seconds": 2.0, "max_seconds": 4.0, "videos_per_identity": 2,
                             "photos_per_identity": 12},
                      voice_trials=1, voice_epochs=6, judge_epochs=4, seeds=2, trials=1, max_epochs=EPOCH_CAP, generator_cpus_per_trial=2.0,
                      generator_concurrency=1, compute_budget="1.2TFLOP", fixed={"g_channels": 16, "d_channels": 16, "precision": "fp32"},
                      defaults_first=True, eval_unit="clip", protocol="unseen", fractions=(0.6, 0.2, 0.2), gallery={"size": 100, "draws": 10},
                      rungs=3),
}
PROFILES["diffusion"] = dataclasses.replace(PROFILES["default"], families=DIFFUSION_FAMILIES)


def run_paper(run_dir: Path, report_dir: Path, profile_name: str, seed: int = 0, address: str | None = None, storage: str | None = None,
              voice_encoder: str | None = None, judge=None, budget_counts: str | None = None) -> dict:
    """Run the whole study; returns the report summary with the time each stage took.

    A trainable ``voice_encoder`` (default paper-text) gets the voice search and its best trial becomes the
    voice stage; a pretrained one replaces the voice search by its embedding (no voice experiment to report).
    ``judge`` (a ``JudgeConfig``) chooses the judge (default: trained); its epochs and seed come from the profile."""
    from v2f_bench.compare import run_comparison
    from v2f_bench.console import format_duration, stage
    from v2f_bench.compute import parse_compute_budget
    from v2f_bench.data.prepared import PrepareConfig, format_summary, load_prepared, prepare
    from v2f_bench.data.sources import resolve_sources
    from v2f_bench.judge import JudgeConfig
    from v2f_bench.parallel import ray_session
    from v2f_bench.provenance import code_version, machine
    from v2f_bench.report.build import build_report
    from v2f_bench.search import Budget, best_result, default_space_file, run_search, search_setup
    from v2f_bench.tasks.judge import judge_stage
    from v2f_bench.tasks.voice import adopt_voice_trial, voice_stage
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder

    if profile_name not in PROFILES:
        raise UserError(f"--profile {profile_name!r}: choose one of {', '.join(PROFILES)}")
    profile = PROFILES[profile_name]
    if budget_counts is not None:
        if not profile.compute_budget:
            raise UserError(f"--budget-counts {budget_counts}: the {profile_name} profile has no FLOP budget to count")
        profile = dataclasses.replace(profile, budget_counts=budget_counts)
    encoder = resolve_voice_encoder(voice_encoder)
    run_dir = Path(run_dir)
    _check_paths(run_dir, Path(report_dir), seed)
    timings: dict[str, float] = {}
    started = time.time()
    data = ensure_synth(run_dir / "data", profile, seed)
    timings["synth"] = time.time() - started
    result = prepare(resolve_sources(data, None, None), run_dir / "prepared",
                     PrepareConfig(seed=seed, protocol=profile.protocol, fractions=profile.fractions))
    print(format_summary(result))
    prepared = load_prepared(run_dir / "prepared")
    timings["prepare"] = time.time() - started - sum(timings.values())
    searches = storage or str(run_dir / "searches")
    judge = dataclasses.replace(judge or JudgeConfig(), epochs=profile.judge_epochs, seed=seed)
    resources = dict(cpus_per_trial=profile.cpus_per_trial, gpus_per_trial=profile.gpus_per_trial, concurrency=profile.concurrency)
    voice_budget = Budget(trials=profile.voice_trials, max_epochs=profile.voice_epochs, grace_period=min(2, profile.voice_epochs), **resources)
    compute = parse_compute_budget(profile.compute_budget, profile.budget_counts).as_dict() if profile.compute_budget else None
    resources.update(cpus_per_trial=profile.generator_cpus_per_trial or profile.cpus_per_trial,
                     concurrency=profile.generator_concurrency or profile.concurrency)
    budget = Budget(trials=profile.trials, max_epochs=profile.max_epochs, grace_period=1, compute=compute, **resources)
    fixed = trial_settings(profile)
    # Ray starts here, after synth and prepare: synth forks worker processes, which is unsafe beside Ray's threads
    with ray_session(address or "local"):
        _check_resources(profile_name, [voice_budget, budget])
        if storage is None:
            shutil.rmtree(run_dir / "searches", ignore_errors=True)
        if encoder.trainable:
            voice_setup = search_setup("voice", default_space_file("voice"), prepared, run_dir, {}, judge, voice_encoder=encoder.name)
            voice_results = run_search(voice_setup, voice_budget, searches, "voice", seed)
            best = best_result(voice_results, voice_setup.space)
            chosen = next(r for r in voice_results if r.path == best["path"])
            voice = adopt_voice_trial(prepared, run_dir, best["config"], chosen, encoder.name)
            timings["voice search"] = time.time() - started - sum(timings.values())
            stage(f"voice: {encoder.name}, {best['trials']} trial(s), {best['failed']} failed; the best has {best['metric']} = {best['value']:.3f} "
                  f"(epoch {voice['epoch']} of {voice['epochs_trained']}) [{format_duration(timings['voice search'])}]")
        else:
            voice = voice_stage(prepared, run_dir, encoder=encoder.name)
            timings["voice embedding"] = time.time() - started - sum(timings.values())
            stage(f"voice: {encoder.name} embeddings (pretrained) [{format_duration(timings['voice embedding'])}]")
        judge_record = judge_stage(prepared, run_dir, judge)
        timings["judge"] = time.time() - started - sum(timings.values())
        verification = judge_record["test_verification"]
        stage(f"judge: {judge_record['judge']}, tau = {judge_record['calibration']['tau']:.2f} chosen on validation photos; "
              f"test verification {100 * verification['accuracy']:.1f} % of {verification['n_pairs']} pairs [{format_duration(timings['judge'])}]")
        run_comparison(list(profile.families), profile.seeds, budget, prepared, run_dir, voice["config"], judge, searches, "compare", seed,
                       eval_unit=profile.eval_unit, fixed=fixed, defaults_first=profile.defaults_first, voice_encoder=encoder.name,
                       gallery=profile.gallery)
        timings["compare"] = time.time() - started - sum(timings.values())
        stage(f"compare: {', '.join(profile.families)} x {profile.seeds} seeds [{format_duration(timings['compare'])}]")
    summary = build_report([f"{searches}/compare"] + ([f"{searches}/voice"] if encoder.trainable else []), report_dir)
    timings["report"] = time.time() - started - sum(timings.values())
    timings["total"] = time.time() - started
    record = {"profile": profile_name, "settings": asdict(profile), "seed": seed, "code": code_version(), "machine": machine(), "timings_s": timings, "voice_stage": voice}
    (Path(report_dir) / "run.json").write_text(json.dumps(record, indent=1, default=str))
    return {**summary, "timings_s": timings}


def trial_settings(profile: Profile) -> dict:
    """The settings the profile fixes in every generator trial: its ``fixed`` ones, and with a FLOP budget and
    ``rungs``, each trial's share of the budget (``budget_flops``), what it counts and its rungs."""
    from v2f_bench.compute import parse_compute_budget

    fixed = dict(profile.fixed)
    budget = parse_compute_budget(profile.compute_budget, profile.budget_counts) if profile.compute_budget else None
    if budget is not None and budget.unit == "flops" and profile.rungs:
        fixed.update(budget_flops=budget.amount / profile.trials, budget_counts=budget.counts, rungs=profile.rungs)
    return fixed


def _check_resources(profile_name: str, budgets: list) -> None:
    """Before the first search (and before the previous searches are deleted): every search's trial
    and concurrency (the voice search's and the generator searches') against the connected Ray
    cluster, the largest trial first, so that a trial no node can hold is refused before anything runs."""
    from v2f_bench.resources import check_trial_resources

    cpus, gpus = max(b.cpus_per_trial for b in budgets), max(b.gpus_per_trial for b in budgets)
    lighter = [name for name, p in PROFILES.items() if p.largest_trial[0] <= cpus and p.gpus_per_trial <= gpus and name != profile_name
               and (p.largest_trial[0], p.gpus_per_trial) != (cpus, gpus)]
    fix = f"choose --profile {' or '.join(sorted(lighter))}, whose trials ask for less" if lighter else "no other --profile asks for less"
    largest_first = sorted(budgets, key=lambda b: (b.gpus_per_trial, b.cpus_per_trial), reverse=True)
    for budget in dict.fromkeys((b.cpus_per_trial, b.gpus_per_trial, b.concurrency) for b in largest_first):
        check_trial_resources(*budget, source=f"--profile {profile_name}", fix=fix)


def _check_paths(run_dir: Path, report_dir: Path, seed: int) -> None:
    """What can be checked in a second, before the study deletes ``RUN_DIR/searches`` and starts work."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"--seed {seed!r}: must be a non-negative integer")
    for path, flag in ((run_dir, "--out"), (report_dir, "--report-dir")):
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise UserError(f"{flag} {path}: {existing} exists and is not a directory; choose a directory")


def ensure_synth(folder: Path, profile: Profile, seed: int) -> Path:
    """The profile's synthetic dataset in ``folder``: kept when ``synth.json`` matches, written otherwise.

    ``profile.synth``: ``small`` (``synth.SMALL``'s sizes) and any ``SynthConfig`` field, which wins over them."""
    from v2f_bench.data.synth import SMALL, SynthConfig, write_synth

    sizes = {**(SMALL if profile.synth.get("small") else {}), **{k: v for k, v in profile.synth.items() if k != "small"}}
    config = SynthConfig(seed=seed, **sizes)
    try:
        current = json.loads((folder / "synth.json").read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        current = None
    if current == asdict(config):
        print(f"synth: reusing {folder}")
        return folder
    if folder.exists():
        raise UserError(f"{folder}: holds other data than this profile's synthetic set; remove it or choose another --out")
    summary = write_synth(folder, config)
    print(f"synth: {summary['identities']} identities, {summary['clips']} clips, {summary['photos']} photos in {folder}")
    return folder
