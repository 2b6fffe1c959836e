"""The workbook report: per paper, does each claim hold here, and how sure are we?

``python -m audiolib.report`` (also ``make report``; ``make reproduce`` ends with it) reads the
newest **complete** run of every registered notebook and writes

- ``results/REPORT.md``: per paper, the claims table (our estimate, 95 % interval, n, verdict,
  beside the paper's numbers), our tables beside the paper's, the key figures, links to the run
  folders and their provenance (commit, profile, seeds, data);
- ``results/report.html``: the same, self-contained (figures embedded), for a browser.

An incomplete, failed or unreadable run is never read; a notebook without a complete run is listed
as such. The verdict rule is stated once, in :mod:`audiolib.findings`, and quoted at the top.

>>> build_report(root=tmp_results)          # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import experiments, findings, paths, results
from .reference import PAPER_TITLES

VERDICT_RULE = (
    "Each claim's effect is measured per replicate (seed, or seed x fold; arms share them, so "
    "differences are paired) and summarised as a mean with a Student-t 95 % interval. "
    "**reproduced**: the interval lies wholly on the paper's side; **contradicted**: wholly on the "
    "other side; **inconclusive**: it straddles (or n = 1); for a \"no effect\" claim the paper's side is "
    "inside the stated margin; **not testable here**: the data or weights are not on this machine "
    "(the reason is given).")

FINDINGS_SHOWN = ("claim_id", "quote", "where", "metric", "ours", "n", "paper_numbers", "scale", "verdict", "note")


@dataclass
class NotebookRun:
    """The newest complete run of one notebook (or why there is none)."""

    experiment: experiments.Experiment
    folder: Path | None
    meta: dict = field(default_factory=dict)
    findings: pd.DataFrame | None = None
    beside_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problem: str = ""


def _read_run(exp: experiments.Experiment, root: Path) -> NotebookRun:
    folder = results.latest_run(exp.name, root)
    if folder is None:
        return NotebookRun(exp, None, problem="no complete run")
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if not isinstance(meta, dict):
            raise ValueError("meta.json is not an object")
    except (OSError, ValueError) as err:
        return NotebookRun(exp, folder, problem=f"unreadable {folder / 'meta.json'}: {err}")
    run = NotebookRun(exp, folder, meta)
    tables = meta.get("tables") if isinstance(meta.get("tables"), dict) else {}
    for name in tables:
        path = folder / f"{name}.csv"
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError) as err:
            run.problem = f"unreadable table {path}: {err}"
            continue
        if name == "findings":
            run.findings = table
        elif {"paper", "ours [95% CI]"} <= set(table.columns):
            run.beside_tables[name] = table
    if exp.paper and run.findings is None and not run.problem:
        run.problem = f"{folder} has no findings table"
    return run


def claims_view(table: pd.DataFrame) -> pd.DataFrame:
    """The findings columns a reader needs, ours as ``mean [low, high]``."""
    view = table.copy()
    view["ours"] = [findings.format_effect(v, lo, hi) for v, lo, hi in
                    zip(view["value"].astype(float), view["ci_low"].astype(float), view["ci_high"].astype(float))]
    return view[[c for c in FINDINGS_SHOWN if c in view.columns]].astype(object).fillna("")


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    counts = table["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in findings.VERDICTS}


def _provenance(run: NotebookRun) -> dict[str, str]:
    meta, params = run.meta, run.meta.get("parameters") or {}
    git = meta.get("git") if isinstance(meta.get("git"), dict) else {}
    seeds = params.get("SEEDS", params.get("SEED", "-"))
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    described = "; ".join(f"{k}: {v.get('description') or v.get('fingerprint', '')}" if isinstance(v, dict) else k
                          for k, v in data.items())
    commit = str(git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    return {"run": str(run.folder), "commit": commit, "profile": str(meta.get("profile", "-")),
            "seeds": str(seeds), "data": described or "-", "wall time": f"{meta.get('wall_time_s', '-')} s"}


def _figures(run: NotebookRun) -> list[tuple[str, Path, str]]:
    out = []
    figures = run.meta.get("figures") if isinstance(run.meta.get("figures"), dict) else {}
    for name, info in figures.items():
        png = run.folder / f"{name}.png"
        if png.is_file():
            out.append((name, png, str((info or {}).get("describes", "")) if isinstance(info, dict) else ""))
    return out


# -- writing -------------------------------------------------------------------------------------
def _md_table(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(cell, df.columns)) + " |", "|" + " --- |" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _by_paper(runs: list[NotebookRun]) -> dict[str, list[NotebookRun]]:
    papers: dict[str, list[NotebookRun]] = {p: [] for p in PAPER_TITLES}
    for run in runs:
        if run.experiment.paper:
            papers.setdefault(run.experiment.paper, []).append(run)
    return papers


def _all_findings(runs: list[NotebookRun]) -> pd.DataFrame:
    tables = [r.findings.assign(notebook=r.experiment.name) for r in runs if r.findings is not None]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(findings.FINDINGS_COLUMNS))


def render_markdown(runs: list[NotebookRun], root: Path) -> str:
    out = ["# audiolib workbook report", "", f"Results root: `{root}`.", "", "**Verdict rule.** " + VERDICT_RULE, ""]
    every = _all_findings(runs)
    if len(every):
        counts = verdict_counts(every)
        out += ["Claims: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" (of {len(every)}).", ""]
    missing = [r for r in runs if r.problem]
    if missing:
        out += ["## Notebooks without a usable run", ""]
        out += [f"- `{r.experiment.name}`: {r.problem}" for r in missing] + [""]
    for paper, paper_runs in _by_paper(runs).items():
        out += [f"## {paper}: {PAPER_TITLES.get(paper, paper)}", ""]
        with_findings = [r for r in paper_runs if r.findings is not None]
        if not with_findings:
            out += ["No complete run of this paper's notebooks yet.", ""]
            continue
        out += ["### Claims", "", _md_table(claims_view(_all_findings(with_findings))), ""]
        for run in with_findings:
            rel = run.folder.relative_to(root) if run.folder.is_relative_to(root) else run.folder
            out += [f"### {run.experiment.name}", "", f"[run folder]({rel}) · " + " · ".join(
                f"{k}: {v}" for k, v in _provenance(run).items() if k != "run"), ""]
            for name, table in run.beside_tables.items():
                shown = table.drop(columns=[c for c in ("experiment", "value", "ci_low", "ci_high") if c in table])
                out += [f"**{name}** (ours beside the paper's)", "", _md_table(shown.astype(object).fillna("")), ""]
            for name, png, describes in _figures(run):
                out += [f"![{name}: {describes}]({png.relative_to(root) if png.is_relative_to(root) else png})", ""]
    return "\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .5em;
vertical-align:top}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.reproduced{background:#dff3df}.contradicted{background:#f8dcdc}.inconclusive{background:#fff4d6}
.not-testable-here{background:#eee}.prov{color:#555;font-size:.85em}"""


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        record = dict(zip(df.columns, row))
        css = str(record.get("verdict", "")).replace(" ", "-")
        body.append(f'<tr class="{html.escape(css)}">' + "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
                    + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(runs: list[NotebookRun], root: Path) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>audiolib workbook report</title>",
             f"<style>{_CSS}</style></head><body><h1>audiolib workbook report</h1>",
             f"<p class='prov'>Results root: {html.escape(str(root))}</p>",
             f"<p><b>Verdict rule.</b> {html.escape(VERDICT_RULE.replace('**', ''))}</p>"]
    missing = [r for r in runs if r.problem]
    if missing:
        parts.append("<h2>Notebooks without a usable run</h2><ul>" + "".join(
            f"<li><code>{html.escape(r.experiment.name)}</code>: {html.escape(r.problem)}</li>" for r in missing)
            + "</ul>")
    for paper, paper_runs in _by_paper(runs).items():
        parts.append(f"<section class='paper' id='{paper}'><h2>{paper}: {html.escape(PAPER_TITLES.get(paper, paper))}</h2>")
        with_findings = [r for r in paper_runs if r.findings is not None]
        if not with_findings:
            parts.append("<p>No complete run of this paper's notebooks yet.</p></section>")
            continue
        parts.append("<h3>Claims</h3>" + _html_table(claims_view(_all_findings(with_findings))))
        for run in with_findings:
            prov = " · ".join(f"{k}: {html.escape(v)}" for k, v in _provenance(run).items())
            parts.append(f"<h3>{html.escape(run.experiment.name)}</h3><p class='prov'>{prov}</p>")
            for name, table in run.beside_tables.items():
                shown = table.drop(columns=[c for c in ("experiment", "value", "ci_low", "ci_high") if c in table])
                parts.append(f"<p><b>{html.escape(name)}</b> (ours beside the paper's)</p>" + _html_table(shown.astype(object).fillna("")))
            for name, png, describes in _figures(run):
                data = base64.b64encode(png.read_bytes()).decode("ascii")
                parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(name)}: {html.escape(describes)}</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def collect(root: str | Path | None = None) -> list[NotebookRun]:
    """The newest complete run of every registered notebook (or why there is none)."""
    root = Path(root) if root is not None else paths.results_root()
    return [_read_run(exp, root) for exp in experiments.select(None)]


def build_report(root: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``<root>/REPORT.md`` and ``<root>/report.html``; returns their paths."""
    root = Path(root) if root is not None else paths.results_root()
    runs = collect(root)
    md, page = root / "REPORT.md", root / "report.html"
    results.write_text_atomic(md, render_markdown(runs, root))
    results.write_text_atomic(page, render_html(runs, root))
    return md, page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiolib.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="results root (default: results/ or $AUDIOLIB_RESULTS)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else paths.results_root()
    if not root.is_dir():
        print(f"error: results root {root} does not exist; run `python -m audiolib.run` first", file=sys.stderr)
        return 2
    md, page = build_report(root)
    every = _all_findings(collect(root))
    if len(every):
        print(findings.summary(every).to_string(index=False))
    print(f"wrote {md} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
