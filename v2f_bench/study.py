"""Each search's Optuna study, kept in a file under its experiment.

The searcher's study lives in Optuna's journal file, so that ``optuna-dashboard <file>`` shows the
history, parameter importances and intermediate values, also while the search runs. Ray pickles
the searcher together with this storage, so a resumed search goes on in the same study.

Optuna's journal needs a local file (it locks it). A local experiment keeps it in its own folder
(``optuna_study.log``). A URI experiment keeps a local mirror at a path derived from the URI,
uploaded into the experiment after every trial (``StudyUpload``) and fetched back before a resume
(``fetch_study``), so the bucket holds the study as a local folder does.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from ray import tune

from v2f_bench.artifacts import OPTUNA_STUDY
from v2f_bench.storage import Location


def study_storage(exp: Location):
    """(Optuna journal storage, its local file) of the search in ``exp``."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if exp.is_local:
        journal = Path(exp.path) / OPTUNA_STUDY
    else:
        digest = hashlib.sha256(str(exp).encode()).hexdigest()[:16]
        journal = Path(tempfile.gettempdir()) / "v2f_bench-optuna" / digest / OPTUNA_STUDY
    journal.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(journal))), journal


def fetch_study(exp: Location) -> None:
    """Before resuming a URI experiment: put its uploaded journal where its pickled searcher looks."""
    if exp.is_local:
        return
    data = exp.read_bytes(OPTUNA_STUDY)
    _, journal = study_storage(exp)
    if data is not None:
        journal.write_bytes(data)


class StudyUpload(tune.Callback):
    """Copy a URI experiment's local journal into the experiment after every finished trial and at the end."""

    def __init__(self, journal: Path, exp: Location):
        self.journal, self.exp = journal, exp

    def _upload(self) -> None:
        if self.journal.is_file():
            self.exp.write_bytes(OPTUNA_STUDY, self.journal.read_bytes())

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._upload()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._upload()

    def on_experiment_end(self, trials, **info):
        self._upload()
