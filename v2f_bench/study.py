"""Each search's Optuna study, kept in a file under its experiment.

The searcher's study lives in Optuna's journal file, so that ``optuna-dashboard <file>`` shows the
history, parameter importances and intermediate values, also while the search runs. Ray pickles
the searcher together with this storage, so a resumed search goes on in the same study.

Optuna's journal needs a local file (it locks it). A local experiment keeps it in its own folder
(``optuna_study.log``). A URI experiment keeps a local mirror at a path derived from the URI,
uploaded into the experiment whenever it grows (``StudyUpload``) and fetched back before a resume
(``fetch_study``), so the bucket holds the study as a local folder does.

A search killed mid-run can leave Ray's snapshot of its trials newer than its snapshot of the
searcher (the two files are uploaded one after the other), so a resumed searcher may be told about a
trial it never suggested; Ray's ``OptunaSearch`` then fails the whole resume with a ``KeyError``.
``ResumableOptunaSearch`` logs such a trial and leaves it out of the study instead.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import logging

from ray import tune
from ray.tune.search.optuna import OptunaSearch

from v2f_bench.artifacts import OPTUNA_STUDY
from v2f_bench.storage import Location


logger = logging.getLogger(__name__)


class ResumableOptunaSearch(OptunaSearch):
    """Ray's ``OptunaSearch``, except that results of a trial the searcher has no Optuna trial for (one
    restored from a newer trial snapshot than the searcher's, see the module docstring) are logged
    and skipped rather than raising. Ray still records that trial's results; only the sampler does not
    learn from it, and the warning names it."""

    def _unknown(self, trial_id: str, what: str) -> bool:
        if trial_id in self._ot_trials or trial_id in self._completed_trials:
            return False
        logger.warning("trial %s: its %s reached a searcher that never suggested it (a resumed search whose searcher snapshot "
                       "was older than its trial snapshot); Ray keeps its results, the Optuna study leaves it out", trial_id, what)
        return True

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not self._unknown(trial_id, "result"):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if not self._unknown(trial_id, "completion"):
            super().on_trial_complete(trial_id, result=result, error=error)


def journal_path(exp: Location) -> Path:
    """The local journal file of the search in ``exp``: in its folder, or the mirror of a URI experiment."""
    if exp.is_local:
        return Path(exp.path) / OPTUNA_STUDY
    digest = hashlib.sha256(str(exp).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "v2f_bench-optuna" / digest / OPTUNA_STUDY


def study_storage(exp: Location):
    """(Optuna journal storage, its local file) of the search in ``exp``."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = journal_path(exp)
    journal.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(journal))), journal


def fetch_study(exp: Location) -> None:
    """Before resuming a URI experiment: put its uploaded journal where its pickled searcher looks,
    unless the local mirror there is already as long (the journal only grows; a resume on the same
    machine keeps its newer mirror)."""
    if exp.is_local:
        return
    data = exp.read_bytes(OPTUNA_STUDY)
    journal = journal_path(exp)
    if data is not None and (not journal.is_file() or journal.stat().st_size < len(data)):
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_bytes(data)


class StudyUpload(tune.Callback):
    """Copy a URI experiment's local journal into the experiment whenever it has grown.

    Checked at the end of every step of Ray's trial loop (a file-size check; an upload only when a
    trial was suggested, reported or told), so the copy in the bucket is never behind the searcher
    state Ray snapshots there: a resumed searcher must find every trial it knows in the journal.
    """

    def __init__(self, journal: Path, exp: Location):
        self.journal, self.exp, self.uploaded = journal, exp, -1

    def _upload(self) -> None:
        size = self.journal.stat().st_size if self.journal.is_file() else -1
        if size != self.uploaded:
            self.exp.write_bytes(OPTUNA_STUDY, self.journal.read_bytes())
            self.uploaded = size

    def on_step_end(self, iteration, trials, **info):
        self._upload()

    def on_experiment_end(self, trials, **info):
        self._upload()
