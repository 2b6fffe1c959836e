"""Versioned run folders: tidy tables, figures and provenance, never overwritten.

Layout::

    results/<experiment>/<YYYYmmdd-HHMMSS>-<profile>-<6 hex>/
        meta.json            parameters, git commit + dirty flag, data fingerprints, package
                             versions, device, wall time, status ("running" / "complete" / "failed"),
                             the tables and figures written and what each describes
        <table>.csv          tidy long format: one row per measurement
        <figure>.png/.svg
        notebook.ipynb       the executed notebook (written by ``python -m audiolib.run``)
    results/index.csv        one row per run, rebuilt from the meta.json files

Every file is written to a temporary name and renamed into place, so an interrupted run leaves
no half-written table; its meta keeps ``status: running`` and the index shows it incomplete.

>>> run = start_run("demo", {"SEED": 0}, root=tmp)           # doctest: +SKIP
>>> run.save_table("scores", df, describes="H17 Table 2", data="synthetic (quick)")  # doctest: +SKIP
>>> run.finish()                                              # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from . import paths

TIDY_COLUMNS = ("metric", "value")
PACKAGES = ("torch", "torchaudio", "numpy", "pandas", "scikit-learn", "matplotlib", "soundfile", "papermill")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
    while True:
        folder = root / experiment / f"{stamp}-{profile}-{secrets.token_hex(3)}"
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:  # pragma: no cover - 1 in 16M
            continue


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
        folder.mkdir(parents=True, exist_ok=True)
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


def list_runs(root: str | Path | None = None) -> pd.DataFrame:
    """One row per run folder under ``root``: experiment, folder, profile, status, started, wall time.

    A run whose meta says ``running`` but whose process is gone is reported as ``incomplete``
    (there is no way to tell the two apart from files alone; the runner marks failures itself).
    """
    root = Path(root) if root is not None else paths.results_root()
    rows = []
    for meta_path in sorted(root.glob("*/*/meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            rows.append({"experiment": meta_path.parent.parent.name, "folder": str(meta_path.parent),
                         "status": "unreadable meta.json"})
            continue
        status = meta.get("status", "unknown")
        rows.append({
            "experiment": meta.get("experiment"),
            "folder": str(meta_path.parent.relative_to(root)),
            "profile": meta.get("profile"),
            "status": "incomplete" if status == "running" else status,
            "started": meta.get("started"),
            "wall_time_s": meta.get("wall_time_s"),
            "git_commit": (meta.get("git") or {}).get("commit"),
            "git_dirty": (meta.get("git") or {}).get("dirty"),
            "tables": ",".join(meta.get("tables", {})),
            "figures": ",".join(meta.get("figures", {})),
        })
    return pd.DataFrame(rows, columns=["experiment", "folder", "profile", "status", "started", "wall_time_s",
                                       "git_commit", "git_dirty", "tables", "figures"])


def update_index(root: str | Path | None = None) -> Path:
    """Rewrite ``<root>/index.csv`` from the run folders' meta.json files."""
    root = Path(root) if root is not None else paths.results_root()
    index = root / "index.csv"
    with atomic_path(index) as tmp:
        list_runs(root).to_csv(tmp, index=False)
    return index


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
