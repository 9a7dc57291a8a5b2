"""The ``v2f-bench`` command line: argument parsing only; the work is done by the functions it calls.

A mistake the user can fix (a missing file, a bad value) ends with one line on stderr and exit
status 2; an interruption ends with status 130. Neither prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from v2f_bench import __version__
from v2f_bench.errors import UserError
from v2f_bench.tasks.registry import get_target

DEFAULT_RUN_DIR = Path("runs") / "paper"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v2f-bench", description="Hyperparameter search and benchmarking for voice-to-face synthesis.")
    parser.add_argument("--version", action="version", version=f"v2f-bench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(commands)
    _add_prepare(commands)
    _add_train(commands)
    _add_tune(commands)
    _add_compare(commands)
    _add_cluster(commands)
    _add_report(commands)
    _add_status(commands)
    _add_paper(commands)
    return parser


def _add_synth(commands) -> None:
    p = commands.add_parser("synth", help="write the embedded synthetic dataset in VoxCeleb2/VGGFace2 layouts")
    p.add_argument("out", type=Path, help="new directory to write into")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--small", action="store_true", help="a tiny dataset for tests and smoke runs")
    p.add_argument("--identities", type=int, help="number of identities (default 9, the paper's)")
    p.add_argument("--clips", type=int, help="clips per identity")
    p.add_argument("--photos", type=int, help="photos per identity")
    p.add_argument("--coupling", type=float, metavar="C", help="trait coupling between voice and face: 1 = real people's strengths (default), 0 = only sex shared")
    p.add_argument("--workers", type=int, help="processes to render with (default: all cores); the output does not depend on it")
    p.set_defaults(run=_run_synth)


def _add_prepare(commands) -> None:
    p = commands.add_parser("prepare", help="turn raw (real or synthetic) datasets into a prepared dataset directory")
    p.add_argument("root", type=Path, nargs="?", help="a data root holding voxceleb2/ + vggface2/ (or voxceleb1/ + vggface1/)")
    p.add_argument("--voices", type=Path, help="the VoxCeleb tree, if not under ROOT")
    p.add_argument("--faces", type=Path, help="the VGGFace tree, if not under ROOT")
    p.add_argument("--out", required=True, help="the prepared dataset directory, or a storage URI (s3://...) to publish it to")
    _add_prepare_options(p)
    p.set_defaults(run=_run_prepare)


def _add_prepare_options(p: argparse.ArgumentParser) -> None:
    from v2f_bench.data.audio import FEATURE_BACKENDS
    from v2f_bench.data.splits import SPLIT_PROTOCOLS

    p.add_argument("--identities", help="a preset (agarwal9) or comma-separated voice ids; default: every identity on disk")
    p.add_argument("--min-clips", type=int, default=3, help="skip identities with fewer usable clips (default 3)")
    p.add_argument("--min-photos", type=int, default=3, help="skip identities with fewer usable photos (default 3)")
    p.add_argument("--max-identities", type=int, help="with the default selection, keep the identities with most clips")
    p.add_argument("--protocol", default="paper", choices=SPLIT_PROTOCOLS, help="split protocol (default paper: closed set, split by clip)")
    p.add_argument("--split-fractions", default="0.8,0.1,0.1", help="train,val,test fractions (default 0.8,0.1,0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split draws")
    p.add_argument("--backend", default="librosa", choices=FEATURE_BACKENDS, help="voice feature backend (default librosa, the reference)")
    p.add_argument("--judge-size", type=int, default=96, help="side of the judge's face crops (default 96, the paper's; pretrained facenet weights prefer 160)")
    p.add_argument("--no-align", action="store_true", help="crop by the box only, ignoring eye landmarks")
    p.add_argument("--no-detect", action="store_true", help="skip photos without a box instead of running MTCNN")
    p.add_argument("--shard-clips", type=int, default=64, help="clips per voice-feature shard (default 64: about 100 MB at 8 s a clip)")
    p.add_argument("--shard-photos", type=int, default=512, help="photos per face-crop shard (default 512: about 20 MB)")
    p.add_argument("--address", help="fan out over a Ray cluster: 'auto', 'ray://host:10001', or 'local' for a private local instance")


def _add_train(commands) -> None:
    p = commands.add_parser("train", help="train one configuration (voice classifier or a generator family) without a search")
    _add_verbose_option(p)
    p.add_argument("target", help="'voice' or a generator family (vae, cgan, rcgan, or one you registered)")
    p.add_argument("--config", type=Path, help="YAML mapping of hyperparameters (missing ones take their defaults)")
    p.add_argument("--epochs", type=int, help="override max_epochs")
    _add_stage_options(p)
    p.set_defaults(run=_run_train)


def _add_stage_options(p: argparse.ArgumentParser) -> None:
    """Where the prepared data and stage outputs live, and how the voice and judge stages run."""
    from v2f_bench.judge import CRITERIA, DISTANCES, JudgeConfig
    from v2f_bench.tasks.generator import EVAL_UNITS

    p.add_argument("--prepared", default=DEFAULT_RUN_DIR / "prepared",
                   help=f"prepared dataset: a folder or a storage URI, fetched into a local cache (default {DEFAULT_RUN_DIR / 'prepared'})")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help=f"where the voice and judge stages are kept (default {DEFAULT_RUN_DIR})")
    p.add_argument("--voice-config", type=Path, help="YAML hyperparameters of the voice classifier whose embeddings the generators use")
    _add_voice_encoder_option(p)
    p.add_argument("--voice-audio", type=Path, help="where the prepared dataset's voice clips are now, for encoders that re-read audio "
                   "(ge2e; default: the folder recorded at prepare)")
    _add_judge_options(p)
    p.add_argument("--judge-config", type=Path, help="YAML settings of the trained judge (lr, batch_size, max_epochs, distance, criterion, "
                   "tau_step, seed), such as the file `tune judge --adopt` writes; instead of --judge-epochs, --distance, --criterion")
    p.add_argument("--judge-epochs", type=int, help=f"epochs of the trained judge (default {JudgeConfig.epochs})")
    p.add_argument("--distance", choices=DISTANCES, help=f"judge distance (default {JudgeConfig.distance}; sq_l2 is the authors' code)")
    p.add_argument("--criterion", choices=CRITERIA, help=f"how tau is chosen (default {JudgeConfig.criterion}; accuracy is the paper's text)")
    p.add_argument("--eval-unit", default="window", choices=EVAL_UNITS,
                   help="one generator test decision per voice window (default, as the authors' code) or per clip")
    p.add_argument("--gallery-size", type=int, default=None,
                   help="identities per drawn Recall@K gallery, the true one included (default 100, as SF2F; capped at the split's identities)")
    p.add_argument("--gallery-draws", type=int, default=None, help="galleries drawn per test face for Recall@K (default 10)")


def _add_voice_encoder_option(p: argparse.ArgumentParser) -> None:
    from v2f_bench.voice_encoders.registry import DEFAULT_VOICE_ENCODER, VOICE_ENCODERS

    p.add_argument("--voice-encoder", choices=sorted(VOICE_ENCODERS), metavar="NAME",
                   help=f"voice encoder whose embeddings the generators use: {', '.join(sorted(VOICE_ENCODERS))} "
                        f"(default {DEFAULT_VOICE_ENCODER}, or the variant --voice-config names)")


def _add_judge_options(p: argparse.ArgumentParser) -> None:
    """Which face judge, from the judge registry (choices and help list every registered judge)."""
    from v2f_bench.judge import ALIGNMENTS
    from v2f_bench.judges.registry import JUDGES

    judges = "; ".join(f"{name}: {cls.summary}" for name, cls in JUDGES.items())
    p.add_argument("--judge", default="trained", choices=tuple(JUDGES), help=f"face judge (default trained). {judges}".replace("%", "%%"))
    p.add_argument("--judge-weights", help="local file of the pretrained facenet judge weights (vggface2, casia-webface)")
    p.add_argument("--judge-align", default="landmarks", choices=ALIGNMENTS,
                   help="dlib judge: take the prepared crop as aligned by the dataset's landmarks and resize it (default), "
                        "or re-align it with dlib's 5-point predictor and get_face_chip")


def _add_budget_counts_option(p: argparse.ArgumentParser) -> None:
    from v2f_bench.compute import BUDGET_COUNTS

    p.add_argument("--budget-counts", choices=BUDGET_COUNTS, help="what a FLOP budget counts: training FLOPs (train, the default: "
                   "equal training compute), or training and evaluation FLOPs (train+eval: generating and judging the faces each "
                   "evaluation is measured on, which a diffusion sampler pays per step); stated in every search record")


def _add_budget_options(p: argparse.ArgumentParser) -> None:
    from v2f_bench.search import COMPUTE_CAPS, SCHEDULERS, Budget

    b = Budget()
    p.add_argument("--compute-budget", help="compute per search, summed over its trials: FLOPs (2e15, 2PFLOP) or resource-seconds "
                                            "(600cpu-s, 2gpu-h); the search ends once it is spent (default: none)")
    _add_budget_counts_option(p)
    p.add_argument("--trials", type=int, help=f"trials per search (default {b.trials}; a cap of {COMPUTE_CAPS['trials']} with --compute-budget)")
    p.add_argument("--max-epochs", type=int,
                   help=f"epochs per trial at most (default {b.max_epochs}; a cap of {COMPUTE_CAPS['max_epochs']} with --compute-budget)")
    p.add_argument("--grace-period", type=int, default=b.grace_period, help=f"ASHA: epochs before a trial may be stopped (default {b.grace_period}; trials at rungs of a FLOP budget are stopped at their rungs)")
    p.add_argument("--scheduler", default=b.scheduler, choices=SCHEDULERS, help=f"trial scheduler (default {b.scheduler})")
    p.add_argument("--concurrency", type=int, default=b.concurrency, help=f"trials at once (default {b.concurrency})")
    p.add_argument("--cpus-per-trial", type=float, default=b.cpus_per_trial, help=f"CPUs per trial (default {b.cpus_per_trial:g})")
    p.add_argument("--gpus-per-trial", type=float, default=b.gpus_per_trial, help="GPUs per trial, fractions allowed (default 0)")
    p.add_argument("--time-budget", type=float, help="wall-clock seconds per search (default: no limit)")
    p.add_argument("--max-failures", type=int, default=b.max_failures, help=f"retries of a crashed trial from its last checkpoint (default {b.max_failures})")
    p.add_argument("--address", help="a running Ray cluster ('auto', 'ray://head:10001'); default: a private local instance")
    p.add_argument("--storage", default="runs/searches", help="experiment root: a local path or a URI such as s3://bucket/path (default runs/searches)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Optuna sampler and of the trials")


def _add_tracking_options(p: argparse.ArgumentParser) -> None:
    from v2f_bench.trackers import TRACKERS

    p.add_argument("--log", action="append", default=[], choices=TRACKERS,
                   help="also log every trial to this tracker (repeatable); TensorBoard event files are always written")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI (default: a local store, sqlite:///RUN_DIR/mlflow.db)")
    p.add_argument("--objectives", help="multi-objective search, e.g. val_verification_accuracy:max,val_psnr:max (Optuna keeps the "
                                        "Pareto front; ASHA and checkpoints use the first); default: the space's metric")


def _tracking(args: argparse.Namespace):
    from v2f_bench.trackers import Tracking

    tracking = Tracking(kinds=tuple(dict.fromkeys(args.log)), run_dir=Path(args.run_dir), mlflow_uri=args.mlflow_uri)
    tracking.validate()
    tracking.prepare_environment()
    return tracking


def _objectives(args: argparse.Namespace):
    """The parsed ``--objectives`` (empty: single objective); a resumed search keeps the ones it started with."""
    from v2f_bench.search_space import parse_objectives

    if not args.objectives:
        return ()
    if getattr(args, "resume", False):
        raise UserError("--objectives cannot change on --resume: the resumed search keeps the objectives it started with")
    return parse_objectives(args.objectives)


def _add_tune(commands) -> None:
    p = commands.add_parser("tune", help="search hyperparameters of 'voice', 'judge' or a generator family with Optuna on Ray Tune")
    _add_verbose_option(p)
    p.add_argument("target", help="'voice', 'judge' or a generator family")
    p.add_argument("--space", type=Path, help="search-space YAML (default search_spaces/TARGET.yaml)")
    p.add_argument("--name", help="experiment name (default TARGET)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted search of that name")
    p.add_argument("--adopt", action="store_true", help="'voice' or 'judge': make the best trial the stage in --run-dir that the "
                   "generator commands use, and write its settings file there for --voice-config / --judge-config")
    _add_budget_options(p)
    _add_tracking_options(p)
    _add_stage_options(p)
    p.set_defaults(run=_run_tune)


def _add_compare(commands) -> None:
    from v2f_bench.pipeline import STUDY_FAMILIES

    p = commands.add_parser("compare", help="search several generator families under the same declared budget, over several seeds")
    _add_verbose_option(p)
    p.add_argument("--families", default=",".join(STUDY_FAMILIES),
                   help=f"comma-separated families (default {','.join(STUDY_FAMILIES)}: the paper's three and the two reference families)")
    p.add_argument("--seeds", type=int, default=2, help="independent searches per family (default 2)")
    p.add_argument("--name", default="compare", help="experiment root name under --storage (default compare)")
    p.add_argument("--voice-encoders", help="comma-separated voice encoders (e.g. paper-text,ge2e): the same comparison once per "
                   "encoder, each a sub-study NAME/ENCODER, paired by seed in the report (instead of --voice-encoder)")
    _add_budget_options(p)
    _add_tracking_options(p)
    _add_stage_options(p)
    p.set_defaults(run=_run_compare)


def _add_cluster(commands) -> None:
    p = commands.add_parser("cluster", help="Ray cluster launcher helpers")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    v = actions.add_parser("validate", help="check a cluster YAML against Ray's own schema, offline")
    v.add_argument("file", type=Path)
    p.set_defaults(run=_run_cluster)


def _add_paper(commands) -> None:
    from v2f_bench.pipeline import PROFILES

    p = commands.add_parser("paper", help="the whole study on the embedded default: synth, prepare, searches, comparison, report")
    _add_verbose_option(p)
    p.add_argument("--profile", default="default", choices=sorted(PROFILES), help="sizes: default (~15 min on 2 cores), small (tests), full (GPU cluster), unseen (the identity-disjoint study, 100 identities; "
                   "8 min measured on 2 idle cores), diffusion (default with the diffusion family; 24 min measured)")
    p.add_argument("--out", type=Path, default=DEFAULT_RUN_DIR, help=f"run directory for data, stages and searches (default {DEFAULT_RUN_DIR})")
    p.add_argument("--report-dir", type=Path, default=Path("reports"), help="where the report goes (default reports)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--address", help="a running Ray cluster ('auto', 'ray://head:10001'); default: a private local instance")
    p.add_argument("--storage", help="experiment root for the searches (local path or s3://...); default RUN_DIR/searches")
    _add_budget_counts_option(p)
    _add_voice_encoder_option(p)
    _add_judge_options(p)
    p.set_defaults(run=_run_paper)


def _add_report(commands) -> None:
    p = commands.add_parser("report", help="tables, equal-budget curves, figures and an HTML page from experiment directories")
    p.add_argument("runs", nargs="+", help="experiment directories or comparison roots (local paths or storage URIs)")
    p.add_argument("--out", type=Path, required=True, help="report directory")
    p.add_argument("--allow-mixed", action="store_true", help="combine experiments built from different prepared datasets")
    p.set_defaults(run=_run_report)


def _add_status(commands) -> None:
    p = commands.add_parser("status", help="where a running or finished search or comparison stands (read-only)")
    p.add_argument("runs", nargs="+", help="experiment directories or comparison roots (local paths or storage URIs)")
    p.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until every search has finished (Ctrl-C stops)")
    p.set_defaults(run=_run_status)


def _at_least(flag: str, value, minimum) -> None:
    """A one-line error naming the flag when a given count is below its minimum (None: not given)."""
    if value is not None and value < minimum:
        raise UserError(f"{flag} {value}: must be at least {minimum}")


def _synth_config(args: argparse.Namespace):
    from v2f_bench.data.synth import SMALL, SynthConfig

    _at_least("--seed", args.seed, 0)
    _at_least("--clips", args.clips, 1)
    _at_least("--photos", args.photos, 1)
    _at_least("--workers", args.workers, 1)
    values = dict(SMALL) if args.small else {}
    overrides = {"identities": args.identities, "clips_per_identity": args.clips, "photos_per_identity": args.photos, "coupling": args.coupling}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SynthConfig(seed=args.seed, **values)


def _run_synth(args: argparse.Namespace) -> None:
    from v2f_bench.data.synth import write_synth

    summary = write_synth(args.out, _synth_config(args), workers=args.workers)
    print(f"wrote {summary['identities']} identities ({summary['clips']} clips, {summary['photos']} photos) to {args.out}")


def _prepare_config(args: argparse.Namespace):
    from v2f_bench.data.audio import FeatureParams
    from v2f_bench.data.faces import FaceParams
    from v2f_bench.data.prepared import PrepareConfig
    from v2f_bench.data.splits import parse_fractions

    _at_least("--seed", args.seed, 0)
    faces = FaceParams(judge_size=args.judge_size, align=not args.no_align, detect_missing=not args.no_detect)
    faces.validate()
    return PrepareConfig(
        identities=args.identities,
        min_clips=args.min_clips,
        min_photos=args.min_photos,
        max_identities=args.max_identities,
        protocol=args.protocol,
        fractions=parse_fractions(args.split_fractions),
        seed=args.seed,
        backend=args.backend,
        features=FeatureParams(),
        faces=faces,
        shard_clips=args.shard_clips,
        shard_photos=args.shard_photos,
    )


def _run_prepare(args: argparse.Namespace) -> None:
    from v2f_bench.data.prepared import format_summary, prepare
    from v2f_bench.data.sources import resolve_sources

    config = _prepare_config(args)
    paths = resolve_sources(args.root, args.voices, args.faces)
    print(format_summary(prepare(paths, args.out, config, address=args.address)))


def _run_paper(args: argparse.Namespace) -> None:
    from v2f_bench.pipeline import run_paper

    summary = run_paper(args.out, args.report_dir, args.profile, args.seed, args.address, args.storage, args.voice_encoder, _judge_config(args),
                        budget_counts=args.budget_counts)
    timings = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in summary["timings_s"].items())
    print(f"report: {summary['page']} ({summary['trials']} trials; {timings})")


def _run_report(args: argparse.Namespace) -> None:
    from v2f_bench.report.build import build_report

    summary = build_report(args.runs, args.out, allow_mixed=args.allow_mixed)
    for problem in summary["problems"]:
        print(f"note: {problem}")
    print(f"report: {summary['page']} ({summary['trials']} trials)")


def _run_status(args: argparse.Namespace) -> None:
    import time

    from v2f_bench.status import status

    if args.watch is not None and args.watch <= 0:
        raise UserError(f"--watch {args.watch}: give a positive number of seconds")
    while True:
        searches, problems = status(args.runs)
        print(time.strftime("%H:%M:%S"))
        for search in searches:
            print(search.line())
        for problem in problems:
            print(f"note: {problem}")
        if not searches:
            raise UserError(f"no v2f-bench search in {', '.join(args.runs)}: {problems[0] if problems else 'nothing found'}")
        if args.watch is None or all(search.finished for search in searches):
            return
        time.sleep(args.watch)


def _gallery(args: argparse.Namespace) -> dict:
    """The drawn Recall@K gallery settings given on the command line, checked (``tasks.generator.gallery_settings``)."""
    from v2f_bench.tasks.generator import gallery_settings

    return gallery_settings({k: v for k, v in (("size", args.gallery_size), ("draws", args.gallery_draws)) if v is not None})


def _run_train(args: argparse.Namespace) -> None:
    from v2f_bench.configs import load_config
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.tasks.base import Context
    from v2f_bench.tasks.registry import task_of
    from v2f_bench.train_once import format_trial

    # every check that takes a second runs before the stages, which replace earlier stage folders
    _at_least("--epochs", args.epochs, 1)
    task = task_of(args.target)
    task.check_request("train", args.target, Context(None, args.run_dir, voice_encoder=args.voice_encoder))
    config = load_config(args.config) if args.config else {}
    if args.epochs is not None:
        config["max_epochs"] = args.epochs
    get_target(args.target, args.voice_encoder).check(config, str(args.config or "--epochs"))
    context = Context(None, args.run_dir, _voice_config(args), _judge_config(args), eval_unit=args.eval_unit,
                      voice_encoder=args.voice_encoder, audio_root=args.voice_audio, gallery=_gallery(args))
    context.prepared = load_prepared(args.prepared)
    print(format_trial(task.train_once(args.target, context, config)))


def _voice_config(args: argparse.Namespace) -> dict:
    """The ``--voice-config`` hyperparameters, checked, and checked against ``--voice-encoder`` (a pretrained one takes none)."""
    from v2f_bench.configs import load_config
    from v2f_bench.voice_encoders.registry import resolve_voice_encoder

    config = load_config(args.voice_config) if args.voice_config else {}
    if not config:
        return config
    named = getattr(args, "voice_encoder", None)
    if named is not None and not resolve_voice_encoder(named).trainable:
        raise UserError(f"{args.voice_config}: voice encoder {named!r} is pretrained and takes no hyperparameters; drop --voice-config")
    get_target("voice", named).check(config, str(args.voice_config))
    resolve_voice_encoder(named, config)  # a `variant` naming another encoder than --voice-encoder
    return config


def _judge_config(args: argparse.Namespace):
    """The judge settings, checked (and a pretrained judge's weight files found) before any stage runs."""
    from v2f_bench.judge import JudgeConfig
    from v2f_bench.judges.registry import judge_class

    tuning = {}
    if hasattr(args, "judge_epochs"):  # `paper` takes only the judge's choice; its profile sets the rest
        _at_least("--judge-epochs", args.judge_epochs, 1)
        flags = {"epochs": ("--judge-epochs", args.judge_epochs), "distance": ("--distance", args.distance),
                 "criterion": ("--criterion", args.criterion)}
        tuning = {name: value for name, (_, value) in flags.items() if value is not None}
        if args.judge_config is not None:
            tuning = _judge_file_settings(args, [flag for flag, value in flags.values() if value is not None])
    config = JudgeConfig(kind=args.judge, weights=args.judge_weights, align=args.judge_align, **tuning)
    judge_class(config).check(config)  # the one-line error that says where a missing weight file belongs
    return config


def _judge_file_settings(args: argparse.Namespace, flags_given: list[str]) -> dict:
    """The ``--judge-config`` file's settings as ``JudgeConfig`` fields; the file replaces the judge's tuning flags."""
    from v2f_bench.configs import load_config
    from v2f_bench.judge import JUDGE_HYPERS, SEARCHED_JUDGE
    from v2f_bench.hyperparameters import check_config

    path = args.judge_config
    if flags_given:
        raise UserError(f"--judge-config {path} and {flags_given[0]}: the file sets the judge's settings; give one of them")
    if args.judge != SEARCHED_JUDGE:
        raise UserError(f"--judge-config {path}: the file holds settings of the {SEARCHED_JUDGE!r} judge; drop --judge {args.judge}")
    settings = check_config(JUDGE_HYPERS, load_config(path), "judge", str(path))
    return {"epochs" if name == "max_epochs" else name: value for name, value in settings.items()}


def _budget(args: argparse.Namespace):
    from v2f_bench.compute import parse_compute_budget
    from v2f_bench.search import COMPUTE_CAPS, Budget

    if args.budget_counts is not None and args.compute_budget is None:
        raise UserError(f"--budget-counts {args.budget_counts}: it says what a FLOP --compute-budget counts; give --compute-budget too")
    compute = parse_compute_budget(args.compute_budget, args.budget_counts or "train") if args.compute_budget is not None else None
    if compute is not None and args.budget_counts is not None and compute.unit != "flops":
        raise UserError(f"--budget-counts with --compute-budget {args.compute_budget}: resource-seconds always count evaluation; "
                        "drop --budget-counts or give the budget in FLOPs")
    defaults = COMPUTE_CAPS if compute is not None else {"trials": Budget.trials, "max_epochs": Budget.max_epochs}
    trials = args.trials if args.trials is not None else defaults["trials"]
    max_epochs = args.max_epochs if args.max_epochs is not None else defaults["max_epochs"]
    budget = Budget(trials=trials, max_epochs=max_epochs, grace_period=args.grace_period, time_budget_s=args.time_budget,
                    cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial, concurrency=args.concurrency,
                    scheduler=args.scheduler, max_failures=args.max_failures, compute=None if compute is None else compute.as_dict())
    budget.validate()
    return budget


def _run_tune(args: argparse.Namespace) -> None:
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.parallel import ray_session
    from v2f_bench.resources import check_trial_resources
    from v2f_bench.search import best_result, check_experiment, default_space_file, resume_search, run_search
    from v2f_bench.search_space import load_target_space, with_objectives
    from v2f_bench.search import search_setup
    from v2f_bench.tasks.base import Context
    from v2f_bench.tasks.registry import task_of

    budget = _budget(args)
    _at_least("--seed", args.seed, 0)
    space = args.space or default_space_file(args.target)
    voice_config = _voice_config(args)
    judge = _judge_config(args)
    task = task_of(args.target)
    task.check_request("tune", args.target, Context(None, args.run_dir, voice_config, judge, voice_encoder=args.voice_encoder))
    if args.adopt and task.stage_option is None:
        raise UserError(f"--adopt: a {task.role} trial is not a stage (its results go to the report); drop --adopt")
    load_target_space(args.target, space, args.voice_encoder)
    gallery = _gallery(args)
    prepared = load_prepared(args.prepared)
    name = args.name or args.target
    record = check_experiment(args.storage, name, args.target, args.resume)
    tracking = _tracking(args)
    objectives = _objectives(args)
    with ray_session(args.address or "local"):
        if args.resume and record is not None:  # a resumed search keeps the resources it started with, not these flags
            kept = record["budget"]
            check_trial_resources(kept["cpus_per_trial"], kept["gpus_per_trial"], kept["concurrency"], source="the resumed search",
                                  fix="--resume keeps the resources the search started with, so start a new search (another --name)")
        else:
            check_trial_resources(budget.cpus_per_trial, budget.gpus_per_trial, budget.concurrency)
        setup = search_setup(args.target, space, prepared, args.run_dir, voice_config, judge, args.storage, args.eval_unit,
                             args.voice_encoder, args.voice_audio, gallery)
        if objectives:
            setup.space = with_objectives(setup.space, objectives)
        if args.resume:
            results = resume_search(setup, args.storage, name)
        else:
            results = run_search(setup, budget, args.storage, name, args.seed, tracking)
    best = best_result(results, setup.space)
    print(f"{name}: {best['trials']} trials, {best['failed']} failed; best {best['metric']} = {best['value']:.4f}")
    print("  config: " + ", ".join(f"{k}={v}" for k, v in sorted(best["config"].items())))
    print(f"  trial directory: {best['path']}")
    if args.adopt:
        _adopt(task, Context(prepared, args.run_dir, voice_config, judge, voice_encoder=args.voice_encoder), best, results)


def _adopt(task, context, best: dict, results) -> None:
    """``tune --adopt``: the best trial becomes the task's stage in the run directory, and its settings file is
    written beside it, so that a generator command given that file finds the stage instead of training it again."""
    import yaml

    chosen = next(r for r in results if r.path == best["path"])
    record = task.adopt(context, best["config"], chosen)
    settings = Path(context.run_dir) / task.role / "adopted_config.yaml"
    settings.write_text(yaml.safe_dump(task.stage_settings(record), sort_keys=True))
    print(f"  adopted as the {task.role} stage in {settings.parent}; generator commands use it with --run-dir {context.run_dir} "
          f"{task.stage_option} {settings}")


def _run_compare(args: argparse.Namespace) -> None:
    from v2f_bench.compare import check_comparison, check_encoders, run_comparison, run_encoder_comparison
    from v2f_bench.voice_encoders.registry import get_voice_encoder
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.parallel import ray_session
    from v2f_bench.resources import check_trial_resources

    budget = _budget(args)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    encoders = [e.strip() for e in args.voice_encoders.split(",") if e.strip()] if args.voice_encoders is not None else None
    if encoders is not None:
        if args.voice_encoder is not None:
            raise UserError("--voice-encoder and --voice-encoders: give one of them")
        check_encoders(encoders, families, args.seeds, args.storage, args.name, args.seed)
        voice_config = _voice_config(args) if any(get_voice_encoder(e).trainable for e in encoders) else {}
    else:
        check_comparison(families, args.seeds, args.storage, args.name, args.seed)
        voice_config = _voice_config(args)
    judge = _judge_config(args)
    gallery = _gallery(args)
    prepared = load_prepared(args.prepared)
    tracking = _tracking(args)
    objectives = _objectives(args)
    with ray_session(args.address or "local"):
        check_trial_resources(budget.cpus_per_trial, budget.gpus_per_trial, budget.concurrency)
        if encoders is not None:
            summary = run_encoder_comparison(encoders, families, args.seeds, budget, prepared, args.run_dir, voice_config, judge, args.storage,
                                             args.name, args.seed, tracking=tracking, objectives=objectives, eval_unit=args.eval_unit,
                                             audio_root=args.voice_audio, gallery=gallery)
        else:
            summary = run_comparison(families, args.seeds, budget, prepared, args.run_dir, voice_config, judge, args.storage, args.name, args.seed,
                                     tracking, objectives, args.eval_unit, voice_encoder=args.voice_encoder, audio_root=args.voice_audio, gallery=gallery)
    studies = summary["studies"] if encoders is not None else {None: summary}
    for encoder, study in studies.items():
        for row in study["searches"]:
            best = f"{row['best']:.4f}" if row["best"] is not None else "none (every trial failed)"
            where = f"{encoder}/" if encoder else ""
            print(f"{where}{row['family']:<8} seed {row['seed']}: best {row['metric']} = {best} ({row['trials']} trials, {row['failed']} failed, "
                  f"{row['wall_time_s']:.0f} s)")
    print(f"budget record: {summary['record']}")


def _run_cluster(args: argparse.Namespace) -> None:
    from v2f_bench.cluster import validate_cluster_file

    problems = validate_cluster_file(args.file)
    if problems:
        for problem in problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        raise UserError(f"{args.file}: {len(problems)} problem(s) found by Ray's schema validation")
    print(f"{args.file}: valid Ray cluster config")


def _add_verbose_option(p) -> None:
    """The options of every command that trains: what the console shows, and how trials get their rows."""
    from v2f_bench.data.batches import DATA_MODES, IN_MEMORY_LIMIT_BYTES

    p.add_argument("--verbose", action="store_true", help="show Ray's own console output (trial tables, worker logs); "
                   "by default a line per stage and a progress line per search (console.py)")
    p.add_argument("--data-path", default="auto", choices=DATA_MODES,
                   help=f"how trials and stages get their training rows (a voice trial's windows, a generator trial's window embeddings, "
                        f"the trained judge's photos): whole through the object store (memory), streamed shard by shard through Ray Data "
                        f"(stream), or by size (auto, the default: stream a column above {IN_MEMORY_LIMIT_BYTES / 1024**3:g} GiB)")


def main(argv: list[str] | None = None) -> int:
    from v2f_bench.console import set_verbose
    from v2f_bench.data.batches import set_data_mode

    args = build_parser().parse_args(argv)
    set_verbose(getattr(args, "verbose", False))
    set_data_mode(getattr(args, "data_path", "auto"))
    try:
        args.run(args)
    except UserError as exc:
        print(f"v2f-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"v2f-bench {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        set_verbose(False)
        set_data_mode("auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
