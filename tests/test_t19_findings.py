"""T19 findings: the report's numbers equal its text, every claim quote is in it, the effects on
constructed tables with known answers, the baseline, the YAMNet branch, and the smoke run's findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audiolib import findings as F
from audiolib import paths
from audiolib.reference import PAPER_FILES, parse_quoted
from audiolib import t19
from audiolib.models.yamnet import yamnet_missing
from audiolib.t19 import claims, paper


@pytest.fixture(scope="module")
def paper_text() -> str:
    root = paths.papers_root()
    if root is None or not (root / PAPER_FILES["T19"].split("/")[-1]).is_file():
        pytest.skip("the report's text is absent (../shared/papers or $AUDIOLIB_PAPERS)")
    return (root / PAPER_FILES["T19"].split("/")[-1]).read_text(encoding="utf-8")


# --- the report's numbers -------------------------------------------------------------------------
def _table_lines(text: str, caption: str) -> list[list[str]]:
    """The tab-separated data rows printed just above ``caption``."""
    lines = text[:text.index(caption)].rstrip().splitlines()
    rows = []
    for line in reversed(lines):
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) < 4 or cells[0] in ("System",) or cells[0].startswith("Micro"):
            if rows:
                break
            continue
        rows.append(cells)
    return list(reversed(rows))


def test_tables_3_and_4_hold_every_printed_number_exactly(paper_text):
    ref = paper.table_3_4()
    assert len(ref) == 18 + 9  # Table 3: 3 rows x 6; Table 4: 6 + 3 (the coarse-level baseline has no fine numbers)
    for caption, table in (("Table 3: Results", paper.TABLE_3), ("Table 4: Results", paper.TABLE_4)):
        printed = {cells[0]: tuple(cells[1:]) for cells in _table_lines(paper_text, caption)}
        assert set(printed) == set(table), caption
        for system, numbers in table.items():
            assert printed[system] == numbers, (caption, system)
    for row in ref.itertuples():
        assert row.quoted in paper_text and parse_quoted(row.quoted) == row.value
    # the corrected numbers: the hierarchical fine micro F1 and macro AUPRC as printed
    assert paper.paper_value("Hierarchical", "fine", "micro_f1") == "0.490"
    assert paper.paper_value("Hierarchical", "fine", "macro_auprc") == "0.414"
    assert paper.paper_value("Coarse-level", "coarse", "micro_auprc") == "0.762"


def test_beside_paper_sets_our_mean_beside_the_printed_number():
    ours = pd.DataFrame([{"variant": "fusion_37", "checkpoint": "best fine", "level": "fine", "metric": "micro_auprc",
                          "value": v, "seed": s} for s, v in enumerate((0.5, 0.6, 0.7))]
                        + [{"variant": "fusion_37", "checkpoint": np.nan, "level": np.nan, "metric": "train_seconds",
                            "value": 12.0, "seed": 0}])
    wide = t19.beside_paper(ours)
    assert len(wide) == 1  # the time row is not a number of the report's tables
    row = wide.iloc[0]
    assert (row["paper"], row["paper_where"], row["n"]) == ("0.656", "Table 3", 3)  # CNN+VGGish2, fine micro AUPRC
    assert row["value"] == pytest.approx(0.6) and row["ours [95% CI]"].startswith("0.600 [")


def test_every_claim_quote_is_in_the_report(paper_text):
    assert F.check_quotes(claims.CLAIMS.claims, paper_text) == []
    ids = [c.id for c in claims.CLAIMS.claims]
    assert len(ids) == len(set(ids)) == 10 and all(i.startswith("T19-") for i in ids)
    untestable = [c.id for c in claims.CLAIMS.claims if c.untestable]
    assert untestable == ["T19-s3.2-agreement-threshold"]
    assert set(claims.NEEDS) == set(ids) - set(untestable)


# --- effects on constructed tables ----------------------------------------------------------------
def _rows(variant, checkpoint, seed, values: dict) -> list[dict]:
    return [{"variant": variant, "checkpoint": checkpoint, "seed": seed, "level": level, "metric": metric,
             "value": v} for (level, metric), v in values.items()]


def _constructed(seeds=(0, 1, 2), noise=0.0) -> pd.DataFrame:
    """Known answers: fusion beats cnn by 0.2, cnn 0.05 below the fine baseline, etc."""
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        e = lambda: float(rng.normal(0, noise))  # noqa: E731
        full = lambda fm, ff, fM, cm, cf, cM: {("fine", "micro_auprc"): fm, ("fine", "micro_f1"): ff,  # noqa: E731
                                                ("fine", "macro_auprc"): fM, ("coarse", "micro_auprc"): cm,
                                                ("coarse", "micro_f1"): cf, ("coarse", "macro_auprc"): cM}
        for v, base in (("fusion_37", 0.6), ("cnn", 0.4), ("fusion_37_unweighted", 0.55), ("fusion_37_full_weights", 0.5)):
            rows += _rows(v, "best coarse", s, full(base - 0.01 + e(), 0.4, 0.3, base + 0.1 + e(), 0.5, 0.4))
            rows += _rows(v, "best fine", s, full(base + e(), 0.35, 0.3, base + 0.05 + e(), 0.45, 0.35))
        rows += _rows("hierarchical", "best coarse", s, full(0.55 + e(), 0.45, 0.25, 0.7, 0.5, 0.4))
        rows += _rows("hierarchical_all_data", "best coarse", s, full(0.58 + e(), 0.45, 0.25, 0.7, 0.5, 0.4))
        rows += _rows("baseline_fine", "best val loss", s, full(0.45 + e(), 0.3, 0.2, 0.45 + e(), 0.3, 0.2))
        rows += _rows("baseline_coarse", "best val loss", s, {("coarse", "micro_auprc"): 0.65 + e(),
                                                              ("coarse", "micro_f1"): 0.5, ("coarse", "macro_auprc"): 0.4})
    return pd.DataFrame(rows)


def test_effects_have_the_known_answers():
    measured, notes = claims.effects(_constructed())
    assert notes == {}
    expect = {
        "T19-s4.1-fusion-beats-cnn": 0.2,            # primary: (fine@best fine + coarse@best coarse) / 2
        "T19-s4.1-cnn-below-baseline": (0.4 + 0.5) / 2 - 0.45,
        "T19-s6-single-beats-hierarchical": ((0.59 + 0.3) - (0.55 + 0.25)) / 2,
        "T19-s6-hierarchical-fine-f1": 0.45 - 0.4,
        "T19-s5-root-beats-none": 0.05,
        "T19-s5-root-beats-full": 0.1,
        "T19-T3T4-beats-baseline-coarse": 0.7 - 0.65,
        "T19-T3T4-not-baseline-fine": 0.6 - 0.45,     # the best-fine checkpoint's fine micro AUPRC
        "T19-s6-all-data-fix": 0.03,
    }
    for claim_id, value in expect.items():
        assert list(measured[claim_id].index) == [0, 1, 2], claim_id
        np.testing.assert_allclose(measured[claim_id].to_numpy(), value, atol=1e-12, err_msg=claim_id)


def test_findings_verdicts_on_constructed_tables():
    found = claims.findings(_constructed(noise=0.002), scale="test", replicates="3 seeds").set_index("claim_id")
    assert set(found["verdict"]) <= set(F.VERDICTS)
    assert found.loc["T19-s4.1-fusion-beats-cnn", "verdict"] == "reproduced"
    assert found.loc["T19-s4.1-cnn-below-baseline", "verdict"] == "inconclusive"  # true effect 0: straddles
    assert found.loc["T19-T3T4-not-baseline-fine", "verdict"] == "contradicted"
    assert found.loc["T19-s3.2-agreement-threshold", "verdict"] == "not testable here"
    assert "SONYC-UST audio" in found.loc["T19-s3.2-agreement-threshold", "note"]
    # a straddling effect: the all-data fix with noise far above its 0.03 mean
    noisy = claims.findings(_constructed(noise=0.2), scale="test").set_index("claim_id")
    assert noisy.loc["T19-s6-all-data-fix", "verdict"] == "inconclusive"


def test_missing_arms_and_unpaired_seeds_are_named():
    table = _constructed()
    found = claims.findings(table[table.variant != "cnn"], scale="test").set_index("claim_id")
    assert found.loc["T19-s4.1-fusion-beats-cnn", "verdict"] == "inconclusive"   # testable, not run
    assert found.loc["T19-s4.1-fusion-beats-cnn", "n"] == 0
    assert "not measured in this run" in found.loc["T19-s4.1-fusion-beats-cnn", "note"]
    assert "cnn" in found.loc["T19-s4.1-fusion-beats-cnn", "note"]
    broken = table[~((table.variant == "cnn") & (table.seed == 2))]
    with pytest.raises(ValueError, match="do not share seeds"):
        claims.effects(broken)
    with pytest.raises(ValueError, match="appears twice"):
        claims.arm_table(pd.concat([table, table]))
    times = pd.DataFrame({"variant": ["cnn", "cnn"], "seed": [0, 0], "checkpoint": np.nan, "level": np.nan,
                          "metric": ["train_seconds", "wall_seconds"], "value": [3.0, 4.0]})
    assert claims.arm_table(pd.concat([table, times])).equals(claims.arm_table(table))  # time rows are left out


# --- the baseline and the fusion variants ---------------------------------------------------------
def test_baseline_learns_separable_frames_and_averages_frames():
    from audiolib.data.urban_mixtures import sonyc_taxonomy
    from audiolib.t19.inputs import T19Inputs

    tax = sonyc_taxonomy()
    n, k = 40, 3
    rng = np.random.default_rng(0)
    fine = np.zeros((n, len(tax.fine)), np.float32)
    fine[np.arange(n) % 2 == 0, 0] = 1
    coarse = np.zeros((n, len(tax.coarse)), np.float32)
    coarse[:, 0] = fine[:, 0]
    emb = torch.as_tensor(rng.normal(size=(n, k, 4)), dtype=torch.float32)
    emb[:, :, 0] += 3 * torch.as_tensor(fine[:, :1])  # dimension 0 carries the label
    split = np.array(["train"] * 24 + ["validate"] * 8 + ["test"] * 8)
    inputs = T19Inputs("toy", tax, [str(i) for i in range(n)], split, np.zeros(n, int),
                       torch.zeros(n, 128, 8), torch.zeros(n, k, 96, 64), fine, coarse, fine, coarse, embeddings=emb)
    test = inputs.rows("test")
    trial = t19.train_baseline(inputs, "fine", rows=test, lr=0.05, epochs=30)
    f, c = t19.split_outputs(trial.scores, "fine", tax)
    assert f.shape == (8, len(tax.fine)) and c.shape == (8, len(tax.coarse))
    pos = fine[test, 0] == 1
    assert f[pos, 0].min() > f[~pos, 0].max()  # separable: every positive ranks above every negative
    np.testing.assert_allclose(c[:, 0], f[:, :len(tax.fine_of(list(tax.coarse)[0]))].max(axis=1))  # coarse = max
    c2 = t19.train_baseline(inputs, "coarse", rows=test, lr=0.05, epochs=30).scores
    assert c2[pos, 0].min() > c2[~pos, 0].max() and trial.metrics["best_epoch"] >= 1
    assert trial.extra["n_train"] == 24 and trial.metrics["train_seconds"] > 0


def test_fusion_concat_takes_1024_d_embeddings_and_packs_them_losslessly():
    from audiolib.models import create_model
    from audiolib.models.t19 import embedding_columns, pack_inputs, unpack_inputs

    spec, emb = torch.randn(2, 128, 862), torch.randn(2, 10, 1024)
    x = pack_inputs(spec, emb)
    assert x.shape == (2, 1, 128, 862 + embedding_columns(10, 1024)) == (2, 1, 128, 942)
    back_spec, back_emb = unpack_inputs(x, 10, 1024)
    assert torch.equal(back_spec[:, 0], spec) and torch.equal(back_emb, emb)
    model = create_model("t19_fusion", 37, width=0.125, embedding_dim=1024, fusion="concat").eval()
    assert model.fc1.in_features == model.cnn.out_features + 10240
    with torch.no_grad():
        assert model(x).shape == (2, 37)
    with pytest.raises(ValueError, match="fusion"):
        create_model("t19_fusion", 37, fusion="sum")


def test_resolve_embedding_choices():
    net, fusion = t19.resolve_embedding("vggish", "auto")
    assert (net, fusion) == ("vggish", "bilinear")
    assert t19.resolve_embedding("yamnet", "auto") == ("yamnet", "concat")
    assert t19.resolve_embedding("auto", "bilinear")[1] == "bilinear"
    with pytest.raises(ValueError, match="EMBEDDING_NETWORK"):
        t19.resolve_embedding("openl3", "auto")


def test_yamnet_branch_embeds_yamnet_examples(tmp_path, monkeypatch):
    if yamnet_missing():
        pytest.skip("YAMNet's port or its release file is absent (../shared/models/yamnet)")
    from audiolib.data import load_dataset

    clips = load_dataset("synthetic", n_clips=4, seed=0)
    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path))
    inputs = t19.extract_inputs(clips, front_end="yamnet")
    assert inputs.examples.shape[1:] == (10, 96, 64)
    branch = t19.embedding_branch("yamnet", inputs, device="cpu")
    assert branch.network == "yamnet" and "AudioSet" in branch.trained_on
    emb = branch.embed(inputs.examples[:1], device="cpu")
    assert emb.shape == (1, 10, 1024) and torch.isfinite(emb).all()
    with pytest.raises(ValueError, match="front end"):
        t19.embedding_branch("vggish", inputs)


# --- the smoke run --------------------------------------------------------------------------------
def test_smoke_run_findings_hold_every_claim():
    runs = sorted((paths.results_root() / "05_dcase_hierarchical").glob("*-smoke-*"))
    done = [r for r in runs if (r / "findings.csv").is_file()]
    if not done:
        pytest.skip("no smoke run of notebook 05 with findings (python -m audiolib.run --profile smoke --only 05)")
    found = pd.read_csv(done[-1] / "findings.csv")
    assert set(found["claim_id"]) == {c.id for c in claims.CLAIMS.claims}
    assert set(found["verdict"]) <= set(F.VERDICTS)
