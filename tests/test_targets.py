"""Search targets: every trainable voice encoder, the trained judge and every generator family declare
their typed hyperparameters and objective once, and everything that checks a config asks them."""

from __future__ import annotations

import pytest

from v2f_bench.errors import UserError
from v2f_bench.hyperparameters import Hyper, HyperparameterError
from v2f_bench.metrics import METRICS
from v2f_bench.models.family import GeneratorFamily
from v2f_bench.models.registry import FAMILIES, register_family
from v2f_bench.search_space import MODES
from v2f_bench.targets import RESERVED, ROLES, role_of
from v2f_bench.tasks.generator import GeneratorTask
from v2f_bench.tasks.registry import get_target
from v2f_bench.voice_encoders.base import VoiceEncoder
from v2f_bench.voice_encoders.registry import VOICE_ENCODERS, register_voice_encoder

TARGETS = [("voice", name) for name, cls in sorted(VOICE_ENCODERS.items()) if cls.trainable] + [("judge", None)] + [
    (family, None) for family in sorted(FAMILIES)]


@pytest.mark.parametrize(("name", "encoder"), TARGETS, ids=[f"{n}-{e}" if e else n for n, e in TARGETS])
def test_every_target_declares_documented_typed_hyperparameters_and_an_objective(name, encoder):
    target = get_target(name, encoder)
    assert target.name == name and target.role in ROLES and target.mode in MODES
    assert target.metric.startswith("val_"), "selection happens on validation"
    assert all(isinstance(h, Hyper) and h.doc for h in target.hyperparameters.values())
    assert target.check({}) == target.defaults(), "the declared defaults pass their own check"
    assert RESERVED <= set(target.hyperparameters) and not RESERVED & target.searchable()
    with pytest.raises(HyperparameterError, match=f"'no_such_setting' is not a {name} hyperparameter; accepted: "):
        target.check({"no_such_setting": 1})
    if target.role == "generator":
        assert target.mode == METRICS[target.metric.removeprefix("val_")].mode, "a generator's direction is the one metrics.METRICS declares"


def test_generators_take_the_generic_trial_settings_beside_their_own():
    rcgan = get_target("rcgan")
    assert {"pixel_weight", "g_lr", "batch_size", "precision", "pairing"} <= set(rcgan.hyperparameters)
    assert rcgan.check({"precision": "bf16", "g_steps": 1.0})["g_steps"] == 1
    with pytest.raises(HyperparameterError, match="precision: 'fp8' is not one of"):
        rcgan.check({"precision": "fp8"})
    with pytest.raises(UserError, match="known targets: voice, judge, cgan, diffusion, mean-face, nearest-identity, rcgan, .*vae"):
        get_target("gan")


def test_a_family_added_through_the_registry_is_a_target_and_one_shadowing_a_generic_setting_is_refused(monkeypatch):
    class Projection(GeneratorFamily):
        name = "projection-for-targets"
        defaults = {"lr": Hyper(1e-2, "Adam learning rate")}

    class Shadowing(GeneratorFamily):
        name = "shadowing-for-targets"
        defaults = {"batch_size": Hyper(8, "its own batch size")}

    monkeypatch.setattr("v2f_bench.models.registry.FAMILIES", dict(FAMILIES))
    register_family(Projection)
    target = get_target("projection-for-targets", families={"projection-for-targets": Projection})
    assert target.role == "generator" and target.searchable() >= {"lr", "batch_size"}
    with pytest.raises(ValueError, match="declares 'batch_size', a generic generator-trial setting"):
        register_family(Shadowing)
    with pytest.raises(ValueError, match="declares 'batch_size'"):
        GeneratorTask.target(Shadowing.name, families={Shadowing.name: Shadowing})

    class Judge(GeneratorFamily):
        name = "judge"

    with pytest.raises(ValueError, match="'judge' is a search target of its own"):
        register_family(Judge)


def test_a_trainable_voice_encoder_is_searched_by_its_own_declaration(monkeypatch):
    class Tiny(VoiceEncoder):
        name = "tiny-for-targets"
        trainable = True
        embedding_dim = 8
        hyperparameters = {"width": Hyper(4, "units", minimum=1), "max_epochs": Hyper(2, "epochs", minimum=1), "seed": Hyper(0, "seed")}
        objective = ("val_loss", "min")

    class Undeclared(VoiceEncoder):
        name = "undeclared-for-targets"
        trainable = True
        embedding_dim = 8

    monkeypatch.setattr("v2f_bench.voice_encoders.registry.VOICE_ENCODERS", dict(VOICE_ENCODERS))
    register_voice_encoder(Tiny)
    target = get_target("voice", Tiny.name)
    assert (target.metric, target.mode, target.searchable()) == ("val_loss", "min", {"width"})
    with pytest.raises(ValueError, match="must declare `hyperparameters`"):
        register_voice_encoder(Undeclared)
    with pytest.raises(UserError, match="'ge2e' is pretrained and has no hyperparameters"):
        get_target("voice", "ge2e")


@pytest.mark.parametrize(("target", "recorded", "role"), [
    ("vae", "generator", "generator"), ("voice", "voice", "voice"), ("judge", None, "judge"),
    ("my-family", None, "generator"), ("voice", "nonsense", "voice"),
])
def test_the_role_of_a_recorded_search_is_its_record_s_else_what_its_target_name_implies(target, recorded, role):
    assert role_of(target, recorded) == role
