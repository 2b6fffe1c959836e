"""Execute the workbook's notebooks with papermill, by profile, into versioned run folders.

Usage::

    python -m audiolib.run --profile quick                # every notebook
    python -m audiolib.run --profile smoke --only 01      # notebooks whose name contains "01"
    python -m audiolib.run --profile quick --set SEED=1   # override a parameter everywhere it exists
    python -m audiolib.run --list                         # experiments and their parameters

All parameters of all selected notebooks are checked (names, types, allowed values) before the
first notebook starts. Each notebook runs in a new folder ``results/<name>/<stamp>-<profile>-<hex>/``
holding its tables, figures, ``meta.json`` and the executed ``notebook.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from . import experiments, params, paths, results


def plan(profile: str, only: str | None = None, overrides: dict[str, Any] | None = None) -> list[tuple[experiments.Experiment, dict]]:
    """Selected experiments with their checked parameters; raises before any work on a bad one."""
    chosen = experiments.select(only)
    planned = []
    for exp in chosen:
        if not exp.notebook.exists():
            raise FileNotFoundError(f"experiment {exp.name}: notebook {exp.notebook} is missing")
        values = exp.parameters(profile)
        declared = params.notebook_parameters(exp.notebook)
        for name, value in (overrides or {}).items():
            if name in declared:
                values[name] = value
        params.validate(exp.notebook, values)
        planned.append((exp, values))
    unknown = set(overrides or {}) - {n for e, _ in planned for n in params.notebook_parameters(e.notebook)}
    if unknown:
        raise params.ParameterError(f"--set: no selected notebook declares {sorted(unknown)}")
    return planned


def check_outputs(exp: experiments.Experiment, folder: Path) -> list[str]:
    """Names of declared tables/figures missing from ``folder`` (empty when all are there)."""
    missing = [f"{t}.csv" for t in exp.tables if not (folder / f"{t}.csv").exists()]
    for fig in exp.figures:
        missing += [f"{fig}.{ext}" for ext in ("png", "svg") if not (folder / f"{fig}.{ext}").exists()]
    return missing


def execute(exp: experiments.Experiment, values: dict[str, Any], profile: str, root: Path | None = None,
            log_output: bool = False) -> tuple[Path, str]:
    """Run one notebook; return ``(run folder, status)``."""
    import papermill as pm

    # papermill's own parameter sniffing cannot read comments holding "=" (``# >= 0``) and then
    # calls such parameters unknown; audiolib.params already checked every name, so drop both.
    logging.getLogger("papermill.translators").setLevel(logging.ERROR)
    logging.getLogger("papermill").addFilter(_KNOWN_PARAMETERS)  # added once: same object
    folder = results.new_run_folder(exp.name, profile, root)
    values = {**values, "RUN_DIR": str(folder.resolve())}
    status = "complete"
    try:
        pm.execute_notebook(str(exp.notebook), str(folder / "notebook.ipynb"), parameters=values,
                            cwd=str(exp.notebook.parent), kernel_name="python3", progress_bar=False,
                            log_output=log_output)
    except Exception as exc:  # papermill re-raises the cell's error; the run is marked failed
        status = "failed"
        _mark(folder, "failed", error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
    else:
        missing = check_outputs(exp, folder)
        if missing:
            status = "failed"
            _mark(folder, "failed", error=f"declared outputs missing: {missing}")
    results.update_index(folder.parent.parent)
    return folder, status


class _KnownParameters(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


_KNOWN_PARAMETERS = _KnownParameters()


def _mark(folder: Path, status: str, **extra: Any) -> None:
    """Set the run's status in its meta.json; a meta.json the notebook left unreadable is kept
    beside it as ``meta.unreadable.json`` and a new one records why."""
    meta_path = folder / "meta.json"
    meta: dict[str, Any] = {"experiment": folder.parent.name}
    if meta_path.exists():
        try:
            meta = results.read_meta(meta_path)
        except (OSError, ValueError) as exc:
            meta_path.replace(folder / "meta.unreadable.json")
            meta["meta_problem"] = f"{exc} (kept as meta.unreadable.json)"
    meta.update(status=status, **extra)
    results.write_text_atomic(meta_path, json.dumps(meta, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiolib.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=experiments.PROFILES, default="quick")
    parser.add_argument("--only", default=None, help="run only notebooks whose name contains this text")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter in every selected notebook that declares it")
    parser.add_argument("--results", default=None, help="results root (default: results/)")
    parser.add_argument("--list", action="store_true", help="list experiments and exit")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output")
    args = parser.parse_args(argv)

    if args.list:
        for exp in experiments.select(args.only):
            print(f"{exp.name}: {exp.reproduces}")
            defaults = {k: p.default for k, p in params.notebook_parameters(exp.notebook).items()
                        if k not in ("PROFILE", "RUN_DIR")}
            for profile in experiments.PROFILES:
                shown = exp.parameters(profile) if profile != "quick" else f"the notebook's defaults {defaults}"
                print(f"    {profile}: {shown}")
        return 0
    try:
        planned = plan(args.profile, args.only, params.parse_assignments(args.set))
    except (params.ParameterError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    root = Path(args.results) if args.results else paths.results_root()
    print(f"profile {args.profile}: {len(planned)} notebook(s) -> {root}")
    summary = []
    try:
        results.ensure_writable(root)
        for exp, values in planned:
            start = time.time()
            print(f"[{exp.name}] running ...", flush=True)
            folder, status = execute(exp, values, args.profile, root, args.log_output)
            seconds = time.time() - start
            summary.append((exp.name, status, seconds, folder))
            print(f"[{exp.name}] {status} in {seconds:.0f} s -> {folder}", flush=True)
    except results.ResultsNotWritableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [s for s in summary if s[1] != "complete"]
    print(f"done: {len(summary) - len(failed)} complete, {len(failed)} failed; index: {root / 'index.csv'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
