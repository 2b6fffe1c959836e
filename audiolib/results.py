"""Versioned run folders: tidy tables, figures and provenance, never overwritten.

Layout::

    results/<experiment>/<YYYYmmdd-HHMMSS>-<profile>-<6 hex>/
        meta.json            parameters, git commit + dirty flag, data fingerprints, package
                             versions, device, wall time, status ("running" / "complete" / "failed"),
                             the tables and figures written and what each describes
        <table>.csv          tidy long format: one row per measurement
        <figure>.png/.svg
        notebook.ipynb       the executed notebook (written by ``python -m audiolib.run``)
    results/index.csv        one row per run, rebuilt from the meta.json files (derived data: an
                             edited copy is moved aside, never overwritten; see update_index)

Every file is written to a temporary name and renamed into place, so an interrupted run leaves
no half-written table; its meta keeps ``status: running`` and the index shows it incomplete.
Files get the permissions ``open()`` would give them (the umask, a folder's default ACL), so a
team folder with umask 002 is group-writable. A meta.json that a person broke is listed as an
``unreadable`` run naming the file, and never stops later runs. A results folder that cannot be
written raises :class:`ResultsNotWritableError` saying how to choose another.

>>> run = start_run("demo", {"SEED": 0}, root=tmp)           # doctest: +SKIP
>>> run.save_table("scores", df, describes="H17 Table 2", data="synthetic (quick)")  # doctest: +SKIP
>>> run.finish()                                              # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from . import paths

TIDY_COLUMNS = ("metric", "value")
PACKAGES = ("torch", "torchaudio", "numpy", "pandas", "scikit-learn", "matplotlib", "soundfile", "papermill")


def _create_new(name: Callable[[], Path], create: Callable[[Path], None]) -> Path:
    """Create a file or folder under a fresh random ``name()`` (a new name on a clash, which is
    one in millions); a folder that cannot be written to is a :class:`ResultsNotWritableError`."""
    while True:
        path = name()
        _make_folder(path.parent)
        try:
            create(path)
            return path
        except FileExistsError:  # pragma: no cover - random names
            continue
        except OSError as exc:
            if exc.errno not in _NOT_WRITABLE:
                raise
            raise ResultsNotWritableError(_not_writable(path.parent, exc)) from None


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    The temporary file is created as ``open()`` creates files (mode 0666 less the umask, and the
    folder's default ACL or setgid group), so a team folder with umask 002 gets group-writable
    results; the folder must be writable (:class:`ResultsNotWritableError` otherwise).
    """
    target = Path(target)
    tmp_path = _create_new(lambda: target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}"),
                           lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


class ResultsNotWritableError(PermissionError):
    """The results folder (or a run folder in it) cannot be written; the message says what to do."""


_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


def _not_writable(folder: Path, exc: OSError) -> str:
    return (f"results folder {folder} is not writable ({exc.strerror or exc}); make it writable, or write the "
            "results elsewhere: python -m audiolib.run --results FOLDER, or set $AUDIOLIB_RESULTS")


def ensure_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check a file can be written in it (before any work).

    Raises :class:`ResultsNotWritableError` naming the folder and what to do.
    """
    folder = Path(folder)
    with atomic_path(folder / ".write-check"):
        pass
    (folder / ".write-check").unlink()
    return folder


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno not in _NOT_WRITABLE:
            raise
        raise ResultsNotWritableError(_not_writable(folder, exc)) from None


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def git_state(root: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the project repository."""
    root = root or paths.project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_description() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine(),
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@dataclass
class Run:
    """One run folder. Create it with :func:`start_run`; close it with :meth:`finish`."""

    experiment: str
    folder: Path
    meta: dict[str, Any]
    _start: float = field(default_factory=time.time)

    # -- writing -----------------------------------------------------------------------------
    def save_table(self, name: str, table: pd.DataFrame, *, describes: str, data: str) -> Path:
        """Write ``table`` as ``<name>.csv`` (tidy: one row per measurement).

        Args:
            name: file stem, e.g. ``"table2_architectures"``.
            table: must have ``metric`` and ``value`` columns; ``experiment`` is added if missing.
            describes: the paper's table or figure it corresponds to, e.g. ``"H17 Table 2"``.
            data: the data it ran on, e.g. ``"synthetic default corpus, 2000 clips (quick)"``.
        """
        missing = [c for c in TIDY_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"table {name!r} is not tidy: missing column(s) {missing}; "
                             f"expected one row per measurement with 'metric' and 'value'")
        table = table.copy()
        if "experiment" not in table.columns:
            table.insert(0, "experiment", self.experiment)
        path = self.folder / f"{name}.csv"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        self.meta["tables"][name] = {"file": path.name, "describes": describes, "data": data,
                                     "rows": len(table), "columns": list(map(str, table.columns))}
        self._write_meta()
        return path

    def save_figure(self, name: str, figure, *, describes: str, data: str) -> list[Path]:
        """Write a matplotlib ``figure`` as ``<name>.png`` and ``<name>.svg``."""
        written = []
        for ext in ("png", "svg"):
            path = self.folder / f"{name}.{ext}"
            with atomic_path(path) as tmp:
                figure.savefig(tmp, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
            written.append(path)
        self.meta["figures"][name] = {"files": [p.name for p in written], "describes": describes, "data": data}
        self._write_meta()
        return written

    def record_data(self, name: str, fingerprint: str, *, description: str = "", unusable: list[dict] | None = None,
                    **extra: Any) -> None:
        """Record a dataset's fingerprint and its unusable files in meta.json."""
        self.meta["data"][name] = {"fingerprint": fingerprint, "description": description,
                                   "unusable": _jsonable(unusable or []), **_jsonable(extra)}
        self._write_meta()

    def record(self, key: str, value: Any) -> None:
        """Store any extra JSON-able provenance under ``meta["extra"][key]``."""
        self.meta.setdefault("extra", {})[key] = _jsonable(value)
        self._write_meta()

    def path(self, name: str) -> Path:
        """A path inside the run folder (for checkpoints and other artefacts)."""
        return self.folder / name

    def finish(self, status: str = "complete") -> Path:
        """Mark the run ``status`` with its wall time and update the index."""
        self.meta["status"] = status
        self.meta["finished"] = _now()
        self.meta["wall_time_s"] = round(time.time() - self._start, 3)
        self._write_meta()
        update_index(self.folder.parent.parent)
        return self.folder

    def _write_meta(self) -> None:
        write_text_atomic(self.folder / "meta.json", json.dumps(_jsonable(self.meta), indent=2))

    def __repr__(self) -> str:
        return f"Run({self.experiment!r}, {str(self.folder)!r}, status={self.meta.get('status')!r})"


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def new_run_folder(experiment: str, profile: str = "interactive", root: Path | None = None) -> Path:
    """Create and return a fresh, never-reused folder ``<root>/<experiment>/<stamp>-<profile>-<hex>``."""
    root = Path(root) if root is not None else paths.results_root()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return _create_new(lambda: root / experiment / f"{stamp}-{profile}-{secrets.token_hex(3)}",
                       lambda p: p.mkdir(exist_ok=False))


def start_run(experiment: str, params: dict[str, Any], *, run_dir: str | Path | None = None,
              root: str | Path | None = None, profile: str | None = None) -> Run:
    """Open a run folder and write its initial ``meta.json`` (status ``running``).

    Args:
        experiment: notebook name, e.g. ``"01_architectures"``.
        params: the notebook's parameters (recorded verbatim).
        run_dir: an empty folder made by the runner (``python -m audiolib.run``); when empty or
            ``None`` a new folder is created under ``root``.
        root: results root (default :func:`audiolib.paths.results_root`).
        profile: ``smoke`` / ``quick`` / ``full``, or ``None`` for an interactive run.
    """
    profile = profile or str(params.get("PROFILE", "interactive"))
    if run_dir:
        folder = Path(run_dir)
        _make_folder(folder)
        if (folder / "meta.json").exists():
            raise FileExistsError(f"run folder {folder} already holds a run; a re-run never overwrites one")
    else:
        folder = new_run_folder(experiment, profile, root)
    meta = {
        "experiment": experiment,
        "profile": profile,
        "status": "running",
        "started": _now(),
        "parameters": _jsonable(params),
        "git": git_state(),
        "packages": package_versions(),
        "device": device_description(),
        "argv": sys.argv,
        "data": {},
        "tables": {},
        "figures": {},
    }
    run = Run(experiment, folder, meta)
    run._write_meta()
    update_index(folder.parent.parent)
    return run


INDEX_COLUMNS = ("experiment", "folder", "profile", "status", "started", "wall_time_s", "git_commit", "git_dirty",
                 "tables", "figures", "problem")
#: The types :func:`list_runs` relies on in a meta.json (a field may also be absent or null).
_META_TYPES = {"experiment": str, "profile": str, "status": str, "started": str, "wall_time_s": (int, float),
               "git": dict, "tables": dict, "figures": dict}


def read_meta(meta_path: str | Path) -> dict[str, Any]:
    """A run's meta.json, checked to be an object with the fields' expected types.

    Raises ``ValueError`` naming the file and the field (``OSError`` when it cannot be read).
    """
    meta_path = Path(meta_path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got a {type(meta).__name__}")
    for key, kind in _META_TYPES.items():
        value = meta.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"{meta_path}: field {key!r} must be {_kind_name(kind)}, got {value!r:.60}")
    git = meta.get("git") or {}
    if not isinstance(git.get("commit"), (str, type(None))) or not isinstance(git.get("dirty"), (bool, type(None))):
        raise ValueError(f"{meta_path}: field 'git' must be {{'commit': str, 'dirty': bool}}, got {git!r:.60}")
    return meta


def _kind_name(kind) -> str:
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def list_runs(root: str | Path | None = None) -> pd.DataFrame:
    """One row per run folder under ``root``: experiment, folder, profile, status, started, wall time.

    A run whose meta says ``running`` but whose process is gone is reported as ``incomplete``
    (there is no way to tell the two apart from files alone; the runner marks failures itself).
    A meta.json that cannot be read, is not a JSON object or holds a field of the wrong type is
    listed with status ``unreadable`` and ``problem`` naming the file and what is wrong; it
    never stops the listing.
    """
    root = Path(root) if root is not None else paths.results_root()
    rows = []
    for meta_path in sorted(root.glob("*/*/meta.json")):
        folder = str(meta_path.parent.relative_to(root))
        try:
            meta = read_meta(meta_path)
        except (OSError, ValueError) as exc:
            rows.append({"experiment": meta_path.parent.parent.name, "folder": folder, "status": "unreadable",
                         "problem": str(exc) if str(meta_path) in str(exc) else f"{meta_path}: {exc}"})
            continue
        status = meta.get("status") or "unknown"
        git = meta.get("git") or {}
        rows.append({
            "experiment": meta.get("experiment"),
            "folder": folder,
            "profile": meta.get("profile"),
            "status": "incomplete" if status == "running" else status,
            "started": meta.get("started"),
            "wall_time_s": meta.get("wall_time_s"),
            "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"),
            "tables": ",".join(meta.get("tables") or {}),
            "figures": ",".join(meta.get("figures") or {}),
            "problem": "",
        })
    return pd.DataFrame(rows, columns=list(INDEX_COLUMNS))


def update_index(root: str | Path | None = None) -> Path:
    """Rewrite ``<root>/index.csv`` from the run folders' meta.json files.

    index.csv is derived data: it is rebuilt whole every time. An index.csv that a person has
    edited beyond that (columns added or renamed, or a file that no longer parses as CSV) is
    first moved, untouched, to ``index.edited-<stamp>-<hex>.csv`` beside it, with a warning
    naming both files, so nothing written by hand is lost. Notes about runs belong in a file of
    one's own (e.g. ``results/notes.csv`` keyed by ``folder``).
    """
    root = Path(root) if root is not None else paths.results_root()
    index = root / "index.csv"
    _keep_edited_index(index)
    with atomic_path(index) as tmp:
        list_runs(root).to_csv(tmp, index=False)
    return index


def _keep_edited_index(index: Path) -> None:
    """Move an index.csv holding more than the derived columns aside (see :func:`update_index`)."""
    import csv
    import warnings

    try:
        with open(index, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError, csv.Error):
        rows = None
    header = rows[0] if rows else []
    parses = rows is not None and all(len(r) == len(header) for r in rows)
    if parses and set(header) <= set(INDEX_COLUMNS):
        return
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = index.with_name(f"index.edited-{stamp}-{secrets.token_hex(3)}.csv")
    try:
        os.rename(index, kept)
    except FileNotFoundError:  # another process moved it first
        return
    extra = [c for c in header if c not in INDEX_COLUMNS]
    why = f"column(s) {extra} that are not derived from the runs" if extra else "rows that are not the index's"
    warnings.warn(f"{index} held {why}; index.csv is rebuilt from the runs' meta.json files, so the edited file "
                  f"was kept as {kept}", stacklevel=3)


def latest_run(experiment: str, root: str | Path | None = None, status: str = "complete") -> Path | None:
    """The newest run folder of ``experiment`` with ``status``, or ``None``."""
    runs = list_runs(root)
    runs = runs[(runs["experiment"] == experiment) & (runs["status"] == status)]
    if runs.empty:
        return None
    root = Path(root) if root is not None else paths.results_root()
    return root / runs.sort_values("folder").iloc[-1]["folder"]


def load_table(folder: str | Path, name: str) -> pd.DataFrame:
    """Read table ``name`` back from a run folder."""
    return pd.read_csv(Path(folder) / f"{name}.csv")
