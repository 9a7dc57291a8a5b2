"""The search's Optuna study: a resumed searcher told about a trial it never suggested goes on."""

from __future__ import annotations

import logging

import optuna
import pytest
from ray.tune.search.optuna import OptunaSearch

from v2f_bench.study import ResumableOptunaSearch


def learning_rate(trial) -> None:
    """A define-by-run space of one parameter and no constants."""
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)


def searcher_with_one_finished_trial(cls):
    searcher = cls(space=learning_rate, metric="score", mode="max", sampler=optuna.samplers.TPESampler(seed=0))
    searcher.suggest("known")
    searcher.on_trial_result("known", {"score": 0.5, "training_iteration": 1})
    searcher.on_trial_complete("known", {"score": 0.5, "training_iteration": 1})
    return searcher


def test_rays_searcher_fails_a_resume_on_a_trial_it_never_suggested():
    """Why the subclass exists: Ray 2.60's OptunaSearch raises for a trial missing from its snapshot."""
    with pytest.raises(KeyError, match="ghost"):
        searcher_with_one_finished_trial(OptunaSearch).on_trial_complete("ghost", error=True)


def test_a_trial_the_searcher_never_suggested_is_logged_and_left_out_of_the_study(caplog):
    searcher = searcher_with_one_finished_trial(ResumableOptunaSearch)
    with caplog.at_level(logging.WARNING, logger="v2f_bench.study"):
        searcher.on_trial_result("ghost", {"score": 0.9, "training_iteration": 1})
        searcher.on_trial_complete("ghost", {"score": 0.9, "training_iteration": 1})
    assert sum("trial ghost" in record.getMessage() for record in caplog.records) == 2
    trials = searcher._ot_study.get_trials(deepcopy=False)
    assert [(t.state, t.value) for t in trials] == [(optuna.trial.TrialState.COMPLETE, 0.5)]
    searcher.suggest("next")
    searcher.on_trial_complete("next", {"score": 0.7, "training_iteration": 1})
    assert len(searcher._ot_study.get_trials(deepcopy=False)) == 2, "the study goes on after the unknown trial"
