"""The experiment store: every read and write of experiment files, on a local path or a storage URI.

Searches, trainables, the comparison, the report and ``status`` reach experiment files only through
a ``Location``: a folder (or file) on a ``pyarrow.fs`` filesystem, shown as the path or URI the
user gave. Any URI pyarrow opens works (``s3://``, ``gs://``, ``hdfs://``, ``file://``); its query
is kept on every child, so an S3-compatible server is one URI for the toolkit and for Ray alike::

    s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http

(credentials come from the usual environment variables or files, never from the URI in a file).
File names live in ``artifacts.py``. Ray's own experiment-state files are parsed in exactly one
place, ``read_trial_states``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from v2f_bench.artifacts import RAY_STATE_PREFIX, STAGES_FOLDER, TRIAL_FILES
from v2f_bench.errors import UserError


def is_uri(text: str | Path) -> bool:
    """Whether ``text`` names a storage URI (``s3://...``) rather than a local path."""
    return "://" in str(text)


@dataclass(frozen=True)
class Location:
    """A folder or file on a pyarrow filesystem.

    ``path`` is the filesystem's own path (no scheme); ``scheme`` and ``query`` rebuild the URI the
    user gave, so ``str(location)`` is what Ray and error messages see.
    """

    fs: object
    path: str
    scheme: str = ""
    query: str = ""

    @classmethod
    def parse(cls, text: str | Path) -> Location:
        """A local path (made absolute) or a URI; an unusable URI is a one-line ``UserError``."""
        from pyarrow import fs

        text = str(text)
        if not is_uri(text):
            return cls(fs.LocalFileSystem(), str(Path(text).expanduser().resolve()))
        scheme = text.split("://", 1)[0]
        query = text.split("?", 1)[1] if "?" in text else ""
        try:
            filesystem, path = fs.FileSystem.from_uri(text)
        except (ValueError, OSError) as exc:
            raise UserError(f"{text}: cannot open that storage URI ({exc})") from None
        return cls(filesystem, path.rstrip("/") or "/", scheme, query)

    def child(self, name: str) -> Location:
        return Location(self.fs, f"{self.path.rstrip('/')}/{name}", self.scheme, self.query)

    @property
    def parent(self) -> Location:
        return Location(self.fs, self.path.rstrip("/").rsplit("/", 1)[0] or "/", self.scheme, self.query)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_local(self) -> bool:
        return not self.scheme

    def __str__(self) -> str:
        if not self.scheme:
            return self.path
        return f"{self.scheme}://{self.path}" + (f"?{self.query}" if self.query else "")

    # -- reading

    def kind(self) -> str:
        """``missing``, ``dir`` or ``file``."""
        from pyarrow import fs

        info = self.fs.get_file_info(self.path)
        return {fs.FileType.NotFound: "missing", fs.FileType.Directory: "dir"}.get(info.type, "file")

    def listing(self) -> dict[str, bool]:
        """Entry name -> is a directory; empty when the directory is missing or vanished meanwhile."""
        from pyarrow import fs

        try:
            infos = self.fs.get_file_info(fs.FileSelector(self.path, allow_not_found=True, recursive=False))
        except (FileNotFoundError, OSError):
            return {}
        return {info.base_name: info.type == fs.FileType.Directory for info in infos}

    def read_bytes(self, name: str) -> bytes | None:
        """The file ``name`` in this folder, or None when it is missing or cannot be read."""
        try:
            with self.fs.open_input_stream(self.child(name).path) as stream:
                return stream.read()
        except (FileNotFoundError, OSError):
            return None

    def read_text(self, name: str) -> str | None:
        data = self.read_bytes(name)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_json(self, name: str):
        """``name`` parsed as JSON; None when missing, unreadable or not JSON."""
        return parse_json(self.read_text(name))

    def read_array(self, name: str):
        """A ``.npy`` file as a numpy array (never unpickled); None when missing or not an array."""
        import numpy as np

        data = self.read_bytes(name)
        if data is None:
            return None
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError):
            return None

    def sha256(self) -> str:
        """The SHA-256 of this file, read a block at a time (OSError propagates)."""
        from v2f_bench.hashing import sha256_stream

        with self.fs.open_input_stream(self.path) as stream:
            return sha256_stream(stream)

    # -- writing (OSError propagates: the caller turns it into a one-line UserError naming its option)

    def makedirs(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def write_bytes(self, name: str, data: bytes) -> None:
        self.makedirs()
        with self.fs.open_output_stream(self.child(name).path) as stream:
            stream.write(data)

    def write_json(self, name: str, content) -> None:
        self.write_bytes(name, json.dumps(content, indent=1, default=str).encode())

    def write_artifacts(self, artifacts: dict) -> None:
        """Arrays as ``.npy`` (no pickle) and dicts as JSON, each under its name, into this folder."""
        import numpy as np

        self.makedirs()
        for name, value in artifacts.items():
            if isinstance(value, dict):
                self.write_json(name, value)
                continue
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(value), allow_pickle=False)
            self.write_bytes(name, buffer.getvalue())

    def move(self, name: str, target: Location) -> None:
        """Move the file or folder ``name`` here to ``target`` (on the same store): copied, then deleted, since an object
        store has no rename of a folder (OSError propagates)."""
        from pyarrow import fs

        source = self.child(name)
        target.parent.makedirs()
        fs.copy_files(source.path, target.path, source_filesystem=self.fs, destination_filesystem=target.fs)
        if source.kind() == "dir":
            self.fs.delete_dir(source.path)
        else:
            self.fs.delete_file(source.path)

    def remove(self, name: str = "") -> None:
        """Delete the file or folder ``name`` here (this location itself when empty); best effort."""
        target = self.child(name) if name else self
        try:
            if target.kind() == "dir":
                self.fs.delete_dir(target.path)
            else:
                self.fs.delete_file(target.path)
        except OSError:
            pass


def parse_json(text: str | None):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def storage_root(storage: str | Path) -> str:
    """The storage location as Ray takes it: an absolute local path or the URI as given."""
    return str(Location.parse(storage))


def experiment(storage: str | Path, name: str) -> Location:
    """The experiment folder ``<storage>/<name>``."""
    return Location.parse(storage).child(name)


def trial_folders(loc: Location, names: dict[str, bool]) -> dict[str, dict[str, bool]]:
    """Each subfolder of the experiment ``loc`` (whose ``listing()`` is ``names``) that may be a trial's, in name order,
    with its own listing: every folder but hidden ones and the stage artifacts. One holding any of ``TRIAL_FILES`` is a
    trial directory (``holds_trial``); an empty one is a trial Ray made and has not written to yet."""
    return {name: loc.child(name).listing() for name, is_dir in sorted(names.items())
            if is_dir and not name.startswith(".") and name != STAGES_FOLDER}


def holds_trial(listing: dict[str, bool]) -> bool:
    """Whether a folder with this listing is a trial directory (it holds one of Ray's trial files)."""
    return any(name in listing for name in TRIAL_FILES)


def read_trial_states(loc: Location, names: dict[str, bool], problems: list[str]) -> dict[str, dict] | None:
    """Ray's view of each trial, from the newest readable ``experiment_state-*.json`` in ``loc``:
    trial directory name -> {trial_id, status, config, tag, num_failures}. None when there is none.

    The one place that knows Ray Tune 2.60's state format (tests/test_storage.py pins it to the
    locked Ray): a JSON object whose ``trial_data`` lists pairs of JSON strings, the trial's state
    (``trial_id``, ``status`` PENDING/RUNNING/PAUSED/TERMINATED/ERROR, ``relative_logdir``,
    ``config``, ``experiment_tag``) and its run metadata (``num_failures``). Fields Ray stores as
    cloudpickle are never read. A half-written newest file falls back to the one before it, said in
    ``problems``.
    """
    files = sorted((n for n in names if n.startswith(RAY_STATE_PREFIX) and n.endswith(".json")), reverse=True)
    if not files:
        return None
    for name in files:
        try:
            state = json.loads(loc.read_text(name) or "")
            trials = {}
            for trial_text, runtime_text in state["trial_data"]:
                trial = json.loads(trial_text)
                runtime = json.loads(runtime_text) if isinstance(runtime_text, str) else dict(runtime_text or {})
                trials[trial["relative_logdir"]] = {
                    "trial_id": trial.get("trial_id"),
                    "status": trial.get("status"),
                    "config": trial.get("config") if isinstance(trial.get("config"), dict) else None,
                    "tag": trial.get("experiment_tag"),
                    "num_failures": runtime.get("num_failures"),
                }
            if name != files[0]:
                problems.append(f"{loc}/{files[0]}: unreadable (half-written?); used the older {name}")
            return trials
        except (ValueError, KeyError, TypeError):
            continue
    problems.append(f"{loc}/{files[0]}: Ray's experiment state is unreadable (half-written?); trial statuses inferred from the trial directories")
    return None
