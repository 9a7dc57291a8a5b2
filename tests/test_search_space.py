"""Search-space files: the shipped ones load, bad ones fail in one line, sampling respects the spec."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
import yaml

from v2f_bench.errors import UserError
from v2f_bench.search_space import Parameter, SearchSpace, load_space
from v2f_bench.tasks.registry import get_target

SPACES = Path(__file__).resolve().parents[1] / "search_spaces"
SHIPPED = {"voice": "val_clip_accuracy", "vae": "val_verification_accuracy", "cgan": "val_verification_accuracy",
           "rcgan": "val_verification_accuracy", "diffusion": "val_verification_accuracy", "judge": "val_verification_accuracy",
           "mean-face": "val_verification_accuracy", "nearest-identity": "val_verification_accuracy"}

CONDITIONAL = """\
target: rcgan
metric: val_verification_accuracy
parameters:
  g_lr: {type: loguniform, low: 1.0e-5, high: 1.0e-3}
  beta1: {type: uniform, low: 0.0, high: 0.9}
  g_channels: {type: int, low: 32, high: 96, step: 16}
  d_channels: {type: int, low: 16, high: 128, log: true}
  pixel_loss: {type: choice, values: [l1, bce]}
  invert_labels: {type: choice, values: [false, true]}
  label_smoothing: {type: uniform, low: 0.0, high: 0.3, when: {invert_labels: true}}
  g_steps: {type: fixed, value: 2}
  pixel_weight: {type: fixed, value: 10.0, when: {pixel_loss: bce}}
"""

optuna.logging.set_verbosity(optuna.logging.WARNING)


def space_text(parameters: str, head: str = "target: rcgan\nmetric: val_verification_accuracy\n") -> str:
    """A space file with the given `parameters:` body (already indented)."""
    return f"{head}parameters:\n{parameters}"


def load_text(tmp_path: Path, text: str) -> SearchSpace:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return load_space(path)


@pytest.mark.parametrize("target", sorted(SHIPPED))
def test_shipped_space_loads(target):
    """Each shipped file targets its name, uses only accepted names and the agreed metric."""
    path = SPACES / f"{target}.yaml"
    assert yaml.safe_load(path.read_text())["target"] == target
    space = load_space(path)
    assert (space.target, space.metric, space.mode) == (target, SHIPPED[target], "max")
    assert space.path == path and space.parameters
    defaults = space.defaults()
    assert all(p.admits(defaults[p.name]) for p in space.parameters if p.name in defaults)


def test_shipped_files_are_exactly_the_targets():
    assert {p.stem for p in SPACES.glob("*.yaml")} == set(SHIPPED)


def test_gan_spaces_tune_both_learning_rates_and_rcgan_its_pixel_weight():
    names = {t: load_space(SPACES / f"{t}.yaml").names for t in ("cgan", "rcgan")}
    assert {"g_lr", "d_lr", "beta1", "batch_size"} <= set(names["cgan"])
    assert {"g_lr", "d_lr", "pixel_weight", "pixel_loss"} <= set(names["rcgan"])


BAD = [
    pytest.param("target: [unclosed\n", "not plain YAML", id="not-yaml"),
    pytest.param("!!python/object/apply:os.system ['echo hi']\n", "python/object/apply", id="python-tag"),
    pytest.param("- a\n- b\n", "expected a mapping", id="not-mapping"),
    pytest.param("target: rcgan\nmetric: m\n", "parameters", id="missing-parameters"),
    pytest.param("target: rcgan\nmetric: m\nparameters: {}\n", "parameters", id="empty-parameters"),
    pytest.param("metric: m\nparameters: {g_lr: {type: fixed, value: 1}}\n", "target", id="missing-target"),
    pytest.param("target: rcgan\nmetric: m\nmode: maximise\nparameters: {g_lr: {type: fixed, value: 1}}\n", "mode",
                 id="bad-mode"),
    pytest.param("target: rcgan\nmetric: m\nsampler: tpe\nparameters: {g_lr: {type: fixed, value: 1}}\n", "'sampler'",
                 id="unknown-top-key"),
    pytest.param(space_text("  g_lr: {type: normal, low: 0.1, high: 1.0}\n"), "parameters.g_lr.type", id="unknown-type"),
    pytest.param(space_text("  g_lr: {type: uniform, low: 0.5, high: 0.1}\n"), "parameters.g_lr.low", id="low-above-high"),
    pytest.param(space_text("  g_lr: {type: loguniform, low: 0.0, high: 0.1}\n"), "parameters.g_lr.low", id="log-low-zero"),
    pytest.param(space_text("  g_lr: {type: loguniform, high: 0.1}\n"), "parameters.g_lr.low", id="missing-low"),
    pytest.param(space_text("  g_lr: {type: loguniform, low: 1e-5, high: 0.1}\n"), "1.0e-5", id="yaml-string-float"),
    pytest.param(space_text("  g_steps: {type: int, low: 1.5, high: 3}\n"), "parameters.g_steps.low", id="int-float-low"),
    pytest.param(space_text("  g_steps: {type: int, low: 1, high: 4, step: 2}\n"), "parameters.g_steps.step",
                 id="int-step-not-dividing"),
    pytest.param(space_text("  g_lr: {type: uniform, low: 0.1, high: 1.0, step: 2}\n"), "parameters.g_lr.step",
                 id="key-of-other-type"),
    pytest.param(space_text("  pixel_loss: {type: choice, values: []}\n"), "parameters.pixel_loss.values", id="empty-choice"),
    pytest.param(space_text("  pixel_loss: {type: choice}\n"), "parameters.pixel_loss.values", id="missing-values"),
    pytest.param(space_text("  g_steps: {type: fixed}\n"), "parameters.g_steps.value", id="missing-fixed-value"),
    pytest.param(space_text("  learning_rate: {type: uniform, low: 0.1, high: 1.0}\n"), "parameters.learning_rate",
                 id="not-accepted"),
    pytest.param(space_text("  beta1: {type: uniform, low: 0.0, high: 0.9, when: {invert_labels: true}}\n"
                            "  invert_labels: {type: choice, values: [false, true]}\n"), "parameters.beta1.when",
                 id="when-later-parameter"),
    pytest.param(space_text("  beta1: {type: uniform, low: 0.0, high: 0.9, when: {nothing: 1}}\n"), "parameters.beta1.when",
                 id="when-unknown-parameter"),
    pytest.param(space_text("  g_lr: {type: uniform, low: 0.1, high: 1.0}\n"
                            "  beta1: {type: uniform, low: 0.0, high: 0.9, when: {g_lr: 0.5}}\n"), "parameters.beta1.when",
                 id="when-on-continuous"),
    pytest.param(space_text("  pixel_loss: {type: choice, values: [l1, bce]}\n"
                            "  beta1: {type: uniform, low: 0.0, high: 0.9, when: {pixel_loss: mse}}\n"),
                 "parameters.beta1.when", id="when-impossible-value"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_space_is_a_one_line_error_naming_file_and_key(tmp_path, text, key):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and key in message


def test_not_accepted_lists_the_accepted_names(tmp_path):
    with pytest.raises(UserError, match="accepted: .*pixel_weight"):
        load_text(tmp_path, space_text("  lr: {type: uniform, low: 0.1, high: 1.0}\n"))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        load_space(tmp_path / "absent.yaml")


def test_a_space_may_set_what_its_target_declares_less_the_budget_and_seed():
    assert get_target("voice").searchable() >= {"lr", "batch_size", "patience"}
    judge = get_target("judge").searchable()
    assert {"lr", "batch_size", "distance", "criterion", "tau_step"} <= judge
    assert not judge & {"kind", "weights"}
    rcgan = get_target("rcgan").searchable()
    assert {"g_lr", "d_lr", "pixel_weight", "pixel_loss", "batch_size"} <= rcgan
    assert not rcgan & {"family", "max_epochs", "seed"}, "the budget and seed belong to the search, not the space"
    assert "pixel_weight" not in get_target("cgan").searchable() and "latent_dim" in get_target("vae").searchable()


def test_unknown_target_lists_known_ones(tmp_path):
    with pytest.raises(UserError, match="known targets: voice, judge, .*rcgan"):
        get_target("gan")
    with pytest.raises(UserError, match=r"space.yaml: target: unknown target 'gan'"):
        load_text(tmp_path, space_text("  lr: {type: uniform, low: 0.1, high: 1.0}\n", head="target: gan\n"))


def test_metric_and_direction_come_from_the_declarations_unless_the_file_names_another_metric(tmp_path):
    body = "  g_lr: {type: loguniform, low: 1.0e-5, high: 1.0e-3}\n"
    plain = load_text(tmp_path, space_text(body, head="target: rcgan\n"))
    assert (plain.metric, plain.mode) == (get_target("rcgan").metric, get_target("rcgan").mode) == ("val_verification_accuracy", "max")
    mse = load_text(tmp_path, space_text(body, head="target: rcgan\nmetric: val_mse\n"))
    assert mse.mode == "min", "metrics.METRICS declares MSE lower-is-better"
    with pytest.raises(UserError, match="val_mse is declared min"):
        load_text(tmp_path, space_text(body, head="target: rcgan\nmetric: val_mse\nmode: max\n"))
    with pytest.raises(UserError, match="say whether val_d_loss is better high or low"):
        load_text(tmp_path, space_text(body, head="target: rcgan\nmetric: val_d_loss\n"))
    stated = load_text(tmp_path, space_text(body, head="target: rcgan\nmetric: val_d_loss\nmode: min\n"))
    assert stated.mode == "min"


def ask_many(space: SearchSpace, n: int, seed: int = 0) -> list[tuple[dict, dict | None]]:
    """(sampled params, returned constants) of n trials on a seeded TPE study, each told a score."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    rows = []
    for i in range(n):
        trial = study.ask()
        constants = space.define_by_run(trial)
        rows.append((dict(trial.params), constants))
        study.tell(trial, float(trial.params["beta1"]) - (i % 3) * 0.1)
    return rows


def test_define_by_run_within_bounds_and_conditions(tmp_path):
    space = load_text(tmp_path, CONDITIONAL)
    by_name = {p.name: p for p in space.parameters}
    rows = ask_many(space, 24)
    for params, constants in rows:
        assert all(by_name[name].admits(value) for name, value in params.items())
        assert ("label_smoothing" in params) == (params["invert_labels"] is True)
        expected = {"g_steps": 2, **({"pixel_weight": 10.0} if params["pixel_loss"] == "bce" else {})}
        assert constants == expected
        assert not {"g_steps", "pixel_weight"} & set(params)
    assert {params["invert_labels"] for params, _ in rows} == {False, True}


def test_seeded_sampling_is_reproducible(tmp_path):
    space = load_text(tmp_path, CONDITIONAL)
    assert ask_many(space, 15, seed=3) == ask_many(space, 15, seed=3)
    assert ask_many(space, 15, seed=3) != ask_many(space, 15, seed=4)


def test_defaults_are_midpoints_and_follow_conditions(tmp_path):
    defaults = load_text(tmp_path, CONDITIONAL).defaults()
    assert defaults["g_lr"] == pytest.approx(1e-4)
    assert defaults["beta1"] == pytest.approx(0.45)
    assert defaults["g_channels"] == 64 and defaults["d_channels"] in range(16, 129)
    assert defaults["invert_labels"] is False and "label_smoothing" not in defaults
    assert defaults["g_steps"] == 2 and "pixel_weight" not in defaults


def test_define_by_run_works_with_ray_optuna_search(tmp_path):
    """Ray's OptunaSearch accepts the method as its define-by-run `space` and merges the constants."""
    from ray.tune.search.optuna import OptunaSearch

    space = load_text(tmp_path, CONDITIONAL)
    searcher = OptunaSearch(space=space.define_by_run, metric=space.metric, mode=space.mode, seed=0)
    config = searcher.suggest("trial_1")
    assert config["g_steps"] == 2 and 1e-5 <= config["g_lr"] <= 1e-3
    assert ("label_smoothing" in config) == config["invert_labels"]


def test_a_search_told_to_start_from_the_defaults_evaluates_the_papers_settings_first():
    """The default profile's searches start from the family's defaults (the paper's learning rates, etc.):
    the first config Ray's OptunaSearch suggests is exactly that point; the second is sampled."""
    from ray.tune.search.optuna import OptunaSearch

    from v2f_bench.search import default_space_file

    space = load_space(default_space_file("rcgan"))
    point = space.point(get_target("rcgan").defaults())
    assert point == {"g_lr": 1e-4, "d_lr": 2e-4, "pixel_weight": 1.0, "pixel_loss": "l1", "beta1": 0.5, "batch_size": 64, "invert_labels": False}
    searcher = OptunaSearch(space=space.define_by_run, metric=space.metric, mode=space.mode, seed=0, points_to_evaluate=[point])
    first, second = searcher.suggest("t1"), searcher.suggest("t2")
    assert {k: first[k] for k in point} == point and first["g_steps"] == 2
    assert second["g_lr"] != point["g_lr"]


def test_a_default_outside_the_space_takes_the_midpoint_instead():
    space = SearchSpace("vae", "val_psnr", "max", (Parameter("lr", "loguniform", 1e-2, 1e-1),))
    assert space.point({"lr": 1e-3}) == {"lr": pytest.approx(math.sqrt(1e-3))}
