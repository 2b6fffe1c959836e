"""The workbook report: built from complete runs only, every paper shown, and it renders in a browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from audiolib import experiments, findings, reference, report, results  # noqa: E402

CLAIM = findings.Claim(id="H17-T2-cnns-beat-fc", paper="H17", quote="All CNNs beat the fully-connected baseline.",
                       where="sec. 4.1, Table 2", paper_numbers="AUC 0.851 (FC) to 0.918", metric="AUC(CNN) - AUC(FC)")


def fake_run(root, name: str, *, finish: bool, auc: float = 0.7):
    """A run of notebook ``name`` with a findings table, a beside table and a figure."""
    run = results.start_run(name, {"SEEDS": [0, 1, 2], "PROFILE": "quick"}, root=root)
    run.record_data("synthetic", "abc123", description="synthetic default corpus, 100 clips")
    table = findings.judge([CLAIM], {CLAIM.id: [auc - 0.6, auc - 0.61, auc - 0.59]}, scale="quick", replicates="3 seeds")
    run.save_table("findings", table, describes="H17 claims", data="synthetic")
    ours = pd.DataFrame({"model": "fc_audio", "seed": [0, 1, 2], "metric": "AUC", "value": [auc] * 3})
    paper = reference.paper_rows("H17", "Table 2", [{"model": "fc_audio", "AUC": "0.851"}], metrics=["AUC"])
    run.save_table("table2_beside", reference.beside(ours, paper, ["model"]), describes="H17 Table 2", data="synthetic")
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, auc])
    run.save_figure("table2_architectures", fig, describes="H17 Table 2", data="synthetic")
    plt.close(fig)
    if finish:
        run.finish()
    return run.folder


def test_report_reads_only_complete_runs(tmp_path):
    root = tmp_path / "results"
    done = fake_run(root, "01_architectures", finish=True, auc=0.7)
    time.sleep(1.1)  # a newer folder stamp
    fake_run(root, "01_architectures", finish=False, auc=0.2)
    md_path, html_path = report.build_report(root)
    md = md_path.read_text()
    assert str(done.relative_to(root)) in md
    assert "+0.100 [" in md and "reproduced" in md        # the complete run's estimate, not the incomplete one's
    assert "-0.400" not in md
    for exp in experiments.select(None):                   # every other notebook is listed as missing
        if exp.name != "01_architectures":
            assert f"`{exp.name}`: no complete run" in md
    for paper in reference.PAPER_TITLES:
        assert f"## {paper}:" in md
    assert "0.851" in md and "table2_beside" in md
    page = html_path.read_text()
    assert "data:image/png;base64," in page and "<section class='paper' id='C19'>" in page


def test_report_survives_a_malformed_meta(tmp_path):
    root = tmp_path / "results"
    folder = fake_run(root, "01_architectures", finish=True)
    meta = json.loads((folder / "meta.json").read_text())
    meta["figures"] = ["not", "a", "dict"]
    (folder / "meta.json").write_text(json.dumps(meta))
    md, _ = report.build_report(root)   # no crash; the run is either read without its figures or listed unusable
    text = md.read_text()
    assert CLAIM.id in text or "`01_architectures`:" in text


def test_report_command(tmp_path, capsys):
    root = tmp_path / "results"
    fake_run(root, "01_architectures", finish=True)
    assert report.main(["--root", str(root)]) == 0
    assert "H17-T2-cnns-beat-fc" in capsys.readouterr().out
    assert report.main(["--root", str(tmp_path / "absent")]) == 2


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_report_from_the_smoke_runs(smoke_runs):
    root, _, runs = smoke_runs
    md_path, html_path = report.build_report(root)
    md = md_path.read_text()
    for name, (folder, status) in runs.items():
        exp = experiments.EXPERIMENTS[name]
        if not exp.paper:
            continue
        assert status == "complete", name
        for claim_id in pd.read_csv(folder / "findings.csv")["claim_id"]:
            assert claim_id in md, f"{claim_id} of {name} missing from the report"
    for paper in reference.PAPER_TITLES:
        assert f"## {paper}:" in md


# -- a real browser ------------------------------------------------------------------------------
def _chromium() -> str:
    """Debian's chromium, installed here when missing and possible; skips the test otherwise."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("AUDIOLIB_NO_BROWSER_INSTALL"):
        pytest.skip("chromium is not installed and AUDIOLIB_NO_BROWSER_INSTALL is set")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True,
                       timeout=900, env=env)
    except (subprocess.SubprocessError, OSError) as err:
        pytest.skip(f"chromium could not be installed with apt-get: {err}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get ran but no chromium is on PATH")
    return found


CHECK = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-broken', imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length);
  document.body.setAttribute('data-papers', document.querySelectorAll('section.paper').length);
});</script></body>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=5000"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_report_renders_in_headless_chromium(tmp_path):
    browser = _chromium()
    root = tmp_path / "results"
    fake_run(root, "01_architectures", finish=True)
    _, html_path = report.build_report(root)
    probe = tmp_path / "probe.html"
    probe.write_text(html_path.read_text().replace("</body>", CHECK))
    profile = tmp_path / "chrome-profile"
    out = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert 'data-papers="4"' in dom, "not every paper section rendered"
    assert 'data-images="1"' in dom and 'data-broken="0"' in dom, "a broken image in the report"
    shot = tmp_path / "report.png"
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    "--window-size=1200,900", html_path.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
