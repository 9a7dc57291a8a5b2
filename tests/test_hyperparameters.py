"""Typed hyperparameter declarations: one check for every config (files, flags, trial configs, family constructors)."""

from __future__ import annotations

import pytest

from v2f_bench.errors import UserError
from v2f_bench.hyperparameters import Hyper, HyperparameterError, check_config

DECLARED = {
    "lr": Hyper(1e-3, "learning rate", minimum=0.0, exclusive=True),
    "epochs": Hyper(5, "epochs", minimum=1),
    "loss": Hyper("l1", "pixel loss", ("l1", "bce")),
    "flip": Hyper(False, "flip labels"),
}


def test_values_are_coerced_to_the_declared_type():
    checked = check_config(DECLARED, {"lr": 1, "epochs": 3.0}, "tiny")
    assert checked == {"lr": 1.0, "epochs": 3, "loss": "l1", "flip": False}
    assert isinstance(checked["lr"], float) and isinstance(checked["epochs"], int)


@pytest.mark.parametrize(("config", "message"), [
    ({"lr": "1e-3"}, "run.yaml: lr: expected a finite number, got '1e-3' (YAML reads 1e-3 as a string: write 1.0e-3)"),
    ({"lr": float("nan")}, "run.yaml: lr: expected a finite number, got nan"),
    ({"epochs": 2.5}, "run.yaml: epochs: expected an integer, got 2.5"),
    ({"epochs": True}, "run.yaml: epochs: expected an integer, got True"),
    ({"epochs": 0}, "run.yaml: epochs: must be at least 1, got 0"),
    ({"lr": 0}, "run.yaml: lr: must be greater than 0, got 0.0"),
    ({"loss": "l2"}, "run.yaml: loss: 'l2' is not one of 'l1', 'bce'"),
    ({"flip": 1}, "run.yaml: flip: expected true or false, got 1"),
    ({"learning_rate": 0.1}, "run.yaml: 'learning_rate' is not a tiny hyperparameter; accepted: epochs, flip, loss, lr"),
])
def test_a_bad_config_is_one_line_naming_its_source_the_key_and_what_was_expected(config, message):
    with pytest.raises(HyperparameterError) as info:
        check_config(DECLARED, config, "tiny", "run.yaml")
    assert str(info.value) == message


def test_the_error_is_a_user_error_for_the_cli_and_a_value_error_for_code():
    with pytest.raises(UserError):
        check_config(DECLARED, {"nope": 1}, "tiny")
    with pytest.raises(ValueError, match="^tiny config: 'nope'"):
        check_config(DECLARED, {"nope": 1}, "tiny")


def test_a_target_without_hyperparameters_says_it_accepts_none():
    with pytest.raises(HyperparameterError, match="accepted: none"):
        check_config({}, {"lr": 0.1}, "ge2e")
