"""Search-space files: one small YAML file per searchable thing (a voice model, a generator family, the judge).

Format (read with ``yaml.safe_load``; tags such as ``!!python/object`` are refused)::

    target: rcgan                        # voice, judge, or a registered generator family (tasks.registry.get_target)
    metric: val_psnr                     # optional: the reported validation metric the search optimises
                                         #   (default: the target's objective, e.g. val_verification_accuracy)
    mode: max                            # optional: max or min; only for a metric whose direction is not
                                         #   declared (the target's objective and metrics.METRICS are)
    parameters:                          # name -> spec, in order; names as the target declares them
      g_lr: {type: loguniform, low: 1.0e-5, high: 1.0e-3}
      beta1: {type: uniform, low: 0.0, high: 0.9}
      batch_size: {type: int, low: 16, high: 64, step: 16}  # optional step (default 1) and log (default false)
      pixel_loss: {type: choice, values: [l1, bce]}
      g_steps: {type: fixed, value: 2}
      label_smoothing: {type: uniform, low: 0.0, high: 0.3, when: {invert_labels: true}}

A ``when: {other: value, ...}`` parameter is only sampled (or, for ``fixed``, only set) when every
named parameter took the given value; each named parameter must be a ``choice`` or ``fixed`` defined
earlier in the file. Write floats with a dot (``1.0e-5``): YAML reads ``1e-5`` as a string.

``SearchSpace.define_by_run`` is the define-by-run function Ray's ``OptunaSearch(space=...)`` takes:
it draws the parameters from an Optuna trial and returns the fixed ones as a dict of constants.
Every mistake in a file is a one-line ``UserError`` naming the file and the key at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from v2f_bench.configs import read_yaml_mapping
from v2f_bench.errors import UserError
from v2f_bench.targets import Target

TYPES = ("loguniform", "uniform", "int", "choice", "fixed")
MODES = ("max", "min")
TOP_KEYS = ("target", "metric", "mode", "parameters")
SPEC_KEYS = {
    "loguniform": ("low", "high"),
    "uniform": ("low", "high"),
    "int": ("low", "high", "step", "log"),
    "choice": ("values",),
    "fixed": ("value",),
}
"""The keys each parameter type takes besides ``type`` and ``when``."""

SCALAR = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Parameter:
    """One searchable hyperparameter; ``when`` maps earlier parameter names to the values it needs."""

    name: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    step: int = 1
    log: bool = False
    values: tuple = ()
    value: Any = None
    when: dict[str, Any] = field(default_factory=dict)

    def active(self, chosen: dict[str, Any]) -> bool:
        """Whether every condition in ``when`` holds for the values chosen so far."""
        return all(name in chosen and chosen[name] == value for name, value in self.when.items())

    def suggest(self, trial) -> Any:
        """Draw this parameter from an Optuna trial (``fixed`` ones are not drawn)."""
        if self.type in ("loguniform", "uniform"):
            return trial.suggest_float(self.name, self.low, self.high, log=self.type == "loguniform")
        if self.type == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)
        if self.type == "choice":
            return trial.suggest_categorical(self.name, list(self.values))
        return self.value

    def midpoint(self) -> Any:
        """A representative value: the (geometric, for log scales) middle, the first choice, or the fixed value."""
        if self.type == "uniform":
            return (self.low + self.high) / 2
        if self.type == "loguniform":
            return math.sqrt(self.low * self.high)
        if self.type == "int":
            middle = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
            return self.low + self.step * round((middle - self.low) / self.step)
        if self.type == "choice":
            return self.values[0]
        return self.value

    def admits(self, value: Any) -> bool:
        """Whether ``value`` lies in this parameter's range (used to check samples)."""
        if self.type in ("loguniform", "uniform"):
            return isinstance(value, float) and self.low <= value <= self.high
        if self.type == "int":
            return isinstance(value, int) and self.low <= value <= self.high and (value - self.low) % self.step == 0
        if self.type == "choice":
            return value in self.values
        return value == self.value


@dataclass(frozen=True)
class SearchSpace:
    """A parsed search-space file."""

    target: str
    metric: str
    mode: str
    parameters: tuple[Parameter, ...]
    path: Path | None = None
    objectives: tuple[tuple[str, str], ...] = ()
    """Every objective of a multi-objective search, (metric, mode) each, the first being ``metric``;
    empty for a single objective (see ``with_objectives``)."""

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def define_by_run(self, trial) -> dict | None:
        """Sample the space from an Optuna trial; return the fixed values (``None`` when there are none).

        This is the define-by-run callable Ray's ``OptunaSearch(space=...)`` accepts: Ray passes a
        wrapped ``optuna.Trial`` and merges the returned constants into the trial's config.
        """
        chosen: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for param in self.parameters:
            if not param.active(chosen):
                continue
            chosen[param.name] = param.suggest(trial)
            if param.type == "fixed":
                constants[param.name] = param.value
        return constants or None

    def point(self, values: dict[str, Any]) -> dict[str, Any]:
        """The searched (non-fixed) parameters set to ``values`` where the space admits them, conditions
        applied: a config Optuna can be told to evaluate first (``OptunaSearch(points_to_evaluate=...)``).
        A parameter whose value is missing from ``values`` or outside its range takes its midpoint."""
        chosen: dict[str, Any] = {}
        for param in self.parameters:
            if param.active(chosen):
                given = values.get(param.name)
                chosen[param.name] = given if given is not None and param.admits(given) else param.midpoint()
        return {p.name: chosen[p.name] for p in self.parameters if p.type != "fixed" and p.name in chosen}

    def defaults(self) -> dict[str, Any]:
        """A single config of midpoints, first choices and fixed values (conditions applied), for smoke runs."""
        chosen: dict[str, Any] = {}
        for param in self.parameters:
            if param.active(chosen):
                chosen[param.name] = param.midpoint()
        return chosen


def load_space(path: Path, target: Target | None = None) -> SearchSpace:
    """Parse and check a search-space file against its target's declaration (``targets.Target``;
    default: the one the file's ``target:`` names). Parameter names must be ones the target lets a
    space set; ``metric`` defaults to the target's objective, and ``mode`` to the direction declared
    for the metric (the target's, or ``metrics.METRICS``'), which a stated mode may not contradict."""
    from v2f_bench.tasks.registry import get_target

    path = Path(path)
    content = read_yaml_mapping(path, "a mapping with target, metric, mode and parameters")
    unknown = [key for key in content if key not in TOP_KEYS]
    if unknown:
        raise UserError(f"{path}: unknown top-level key {unknown[0]!r}; allowed: {', '.join(TOP_KEYS)}")
    name = _required_string(path, content, "target")
    if target is None:
        try:
            target = get_target(name)
        except UserError as exc:
            raise UserError(f"{path}: target: {exc}") from None
    metric = _required_string(path, content, "metric") if "metric" in content else target.metric
    specs = content.get("parameters")
    if not isinstance(specs, dict) or not specs:
        raise UserError(f"{path}: parameters: expected a non-empty mapping of hyperparameter names to specs")
    parameters: list[Parameter] = []
    for key, spec in specs.items():
        parameters.append(_parse_parameter(path, key, spec, target.searchable(), {p.name: p for p in parameters}))
    return SearchSpace(name, metric, _mode(path, metric, content.get("mode"), target), tuple(parameters), path)


def _mode(path: Path, metric: str, stated, target: Target) -> str:
    """The direction of ``metric``: declared once (the target's objective, or ``metrics.METRICS``), else stated in the file."""
    from v2f_bench.metrics import METRICS

    if metric == target.metric:
        declared = target.mode
    else:
        known = METRICS.get(metric.removeprefix("val_")) if metric.startswith("val_") else None
        declared = known.mode if known is not None else None
    if stated is not None and stated not in MODES:
        raise UserError(f"{path}: mode: {stated!r} is not one of {', '.join(MODES)}")
    if declared is not None and stated is not None and stated != declared:
        raise UserError(f"{path}: mode: {metric} is declared {declared} (the target's objective or metrics.METRICS); drop `mode` or write {declared}")
    if declared is None and stated is None:
        raise UserError(f"{path}: mode: say whether {metric} is better high or low (mode: max or mode: min)")
    return declared or stated


def load_target_space(target: str, path: Path, voice_encoder: str | None = None) -> SearchSpace:
    """The space file of a search on ``target``, checked as the search will check it (known target,
    accepted names, the file's own ``target`` the same): called before Ray starts, so that a wrong
    file fails in a second, not after the voice and judge stages."""
    from v2f_bench.tasks.registry import get_target

    declared = get_target(target, voice_encoder)
    space = load_space(path, declared)
    if space.target != target:
        raise UserError(f"{path}: is a search space for {space.target!r}, not {target!r}; pass --space with a {target} space")
    return space


def _required_string(path: Path, content: dict, key: str) -> str:
    value = content.get(key)
    if not isinstance(value, str) or not value:
        raise UserError(f"{path}: {key}: expected a non-empty string, got {value!r}")
    return value


def _parse_parameter(path: Path, name: Any, spec: Any, accepted: set[str] | None, earlier: dict[str, Parameter]) -> Parameter:
    where = f"{path}: parameters.{name}"
    if not isinstance(name, str):
        raise UserError(f"{where}: parameter names must be strings")
    if accepted is not None and name not in accepted:
        raise UserError(f"{where}: not a hyperparameter of this target; accepted: {', '.join(sorted(accepted))}")
    if not isinstance(spec, dict):
        raise UserError(f"{where}: expected a mapping such as {{type: uniform, low: 0.0, high: 1.0}}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise UserError(f"{where}.type: unknown type {kind!r}; use one of {', '.join(TYPES)}")
    extra = [key for key in spec if key not in ("type", "when", *SPEC_KEYS[kind])]
    if extra:
        raise UserError(f"{where}.{extra[0]}: not a key of a {kind} parameter; it takes {', '.join(SPEC_KEYS[kind])} (and when)")
    if kind != "fixed" and name in _study_settings():
        raise UserError(f"{where}: {name} is a study setting, the same for every trial (a sampled trial budget would make the compute "
                        "unequal); give it as {type: fixed, value: ...}, or let --compute-budget and the profile set it")
    when = _parse_when(where, spec.get("when"), earlier)
    return {"loguniform": _parse_float, "uniform": _parse_float, "int": _parse_int,
            "choice": _parse_choice, "fixed": _parse_fixed}[kind](where, name, kind, spec, when)


def _study_settings() -> frozenset:
    from v2f_bench.models.family import STUDY_SETTINGS

    return STUDY_SETTINGS


def _parse_when(where: str, when: Any, earlier: dict[str, Parameter]) -> dict[str, Any]:
    if when is None:
        return {}
    if not isinstance(when, dict) or not when:
        raise UserError(f"{where}.when: expected a mapping such as {{other_param: value}}")
    for other, value in when.items():
        parent = earlier.get(other)
        if parent is None:
            raise UserError(f"{where}.when: {other!r} is not a parameter defined earlier in the file")
        if parent.type not in ("choice", "fixed"):
            raise UserError(f"{where}.when: {other!r} is a {parent.type} parameter; conditions need a choice or fixed one")
        possible = parent.values if parent.type == "choice" else (parent.value,)
        if value not in possible:
            raise UserError(f"{where}.when: {other!r} never takes {value!r}; it takes {list(possible)}")
    return dict(when)


def _number(where: str, spec: dict, key: str, kinds: tuple[type, ...]) -> Any:
    if key not in spec:
        raise UserError(f"{where}.{key}: missing; a {spec['type']} parameter needs low and high")
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, kinds) or (isinstance(value, float) and not math.isfinite(value)):
        hint = " (YAML reads 1e-5 as a string: write 1.0e-5)" if isinstance(value, str) else ""
        wanted = "an integer" if kinds == (int,) else "a finite number"
        raise UserError(f"{where}.{key}: expected {wanted}, got {value!r}{hint}")
    return value


def _parse_float(where: str, name: str, kind: str, spec: dict, when: dict) -> Parameter:
    low, high = (float(_number(where, spec, key, (int, float))) for key in ("low", "high"))
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}.low: must be > 0 for a loguniform parameter, got {low!r}")
    if low > high:
        raise UserError(f"{where}.low: {low!r} is greater than high {high!r}")
    return Parameter(name, kind, low=low, high=high, when=when)


def _parse_int(where: str, name: str, kind: str, spec: dict, when: dict) -> Parameter:
    low, high = (_number(where, spec, key, (int,)) for key in ("low", "high"))
    step = _number(where, spec, "step", (int,)) if "step" in spec else 1
    log = spec.get("log", False)
    if low > high:
        raise UserError(f"{where}.low: {low!r} is greater than high {high!r}")
    if step < 1 or (high - low) % step:
        raise UserError(f"{where}.step: must be a positive integer that divides high - low ({high - low}), got {step!r}")
    if not isinstance(log, bool):
        raise UserError(f"{where}.log: expected true or false, got {log!r}")
    if log and (low < 1 or step != 1):
        raise UserError(f"{where}.log: a log-scaled int needs low >= 1 and no step, got low {low!r}, step {step!r}")
    return Parameter(name, kind, low=low, high=high, step=step, log=log, when=when)


def _parse_choice(where: str, name: str, kind: str, spec: dict, when: dict) -> Parameter:
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        raise UserError(f"{where}.values: expected a non-empty list, got {values!r}")
    bad = [v for v in values if not isinstance(v, SCALAR)]
    if bad:
        raise UserError(f"{where}.values: choices must be numbers, strings, booleans or null, got {bad[0]!r}")
    if len(set(map(repr, values))) != len(values):
        raise UserError(f"{where}.values: lists a value twice")
    return Parameter(name, kind, values=tuple(values), when=when)


def _parse_fixed(where: str, name: str, kind: str, spec: dict, when: dict) -> Parameter:
    if "value" not in spec:
        raise UserError(f"{where}.value: missing; a fixed parameter needs a value")
    if not isinstance(spec["value"], SCALAR):
        raise UserError(f"{where}.value: must be a number, string, boolean or null, got {spec['value']!r}")
    return Parameter(name, kind, value=spec["value"], when=when)


def parse_objectives(text: str) -> tuple[tuple[str, str], ...]:
    """``--objectives val_verification_accuracy:max,val_psnr:max`` -> ((metric, mode), ...).

    Each metric is a reported validation metric (``val_<name>``). Its direction may be left out
    when ``metrics.METRICS`` declares it (``val_psnr`` = ``val_psnr:max``); a stated direction
    that contradicts the declaration is refused, since a metric's direction is declared once.
    """
    from v2f_bench.metrics import METRICS

    objectives = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        metric, _, mode = item.partition(":")
        if not metric.startswith("val_"):
            raise UserError(f"--objectives {item!r}: give a validation metric such as val_psnr (selection happens on validation)")
        declared = METRICS.get(metric.removeprefix("val_"))
        if mode and mode not in MODES:
            raise UserError(f"--objectives {item!r}: the direction must be max or min")
        if declared is not None and mode and mode != declared.mode:
            raise UserError(f"--objectives {item!r}: {metric} is declared {declared.mode} (metrics.METRICS); drop ':{mode}' or use {declared.mode}")
        if not mode and declared is None:
            raise UserError(f"--objectives {item!r}: say whether {metric} is better high or low ({metric}:max or {metric}:min)")
        objectives.append((metric, mode or declared.mode))
    names = [m for m, _ in objectives]
    if len(objectives) < 2 or len(set(names)) != len(names):
        raise UserError(f"--objectives {text!r}: give at least two different metrics, comma-separated")
    return tuple(objectives)


def with_objectives(space: SearchSpace, objectives: tuple[tuple[str, str], ...]) -> SearchSpace:
    """``space`` searched for several objectives; the first one is its ``metric`` (ASHA stops trials on it,
    checkpoints are kept by it, and a search's best trial is chosen by it)."""
    from dataclasses import replace

    (metric, mode), *_ = objectives
    return replace(space, metric=metric, mode=mode, objectives=tuple(objectives))

