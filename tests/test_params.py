"""Notebook parameters: parsing the tagged cell, and errors that name the parameter."""

from __future__ import annotations

import json

import pytest

from audiolib import experiments, params, run

CELL = '''MODELS: list = ["fc_audio"]  # names from list_models()
STEPS: int = 10  # > 0
RATE: float = 0.5  # 0..1
PROFILE: str = "quick"  # {"smoke", "quick", "full"}
FLAG: bool = False  # True or False
'''


def test_parse_cell():
    declared = params.parse_parameters(CELL)
    assert list(declared) == ["MODELS", "STEPS", "RATE", "PROFILE", "FLAG"]
    assert declared["STEPS"].default == 10 and declared["STEPS"].allowed == "> 0"
    assert declared["MODELS"].type_name == "list"


@pytest.mark.parametrize("name,value,message", [
    ("STEPS", "10", "must be int"),
    ("STEPS", 0, "not allowed"),
    ("STEPS", True, "must be int"),
    ("RATE", 1.5, "not allowed"),
    ("PROFILE", "fast", "not allowed"),
    ("FLAG", 1, "must be bool"),
])
def test_bad_values_name_the_parameter(name, value, message):
    declared = params.parse_parameters(CELL)
    with pytest.raises(params.ParameterError, match=f"{name}.*{message}|{message}.*"):
        declared[name].check(value, where="nb")
    try:
        declared[name].check(value, where="nb")
    except params.ParameterError as exc:
        assert name in str(exc)


def test_int_is_a_float():
    params.parse_parameters(CELL)["RATE"].check(1, where="nb")


def test_derived_values_are_refused():
    with pytest.raises(params.ParameterError, match="literal"):
        params.parse_parameters("N: int = 2 * 3  # > 0\n")
    with pytest.raises(params.ParameterError, match="form"):
        params.parse_parameters("import os\n")


def _notebook(tmp_path, source=CELL):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": source,
                     "outputs": [], "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_validate_unknown_parameter_lists_declared(tmp_path):
    nb = _notebook(tmp_path)
    with pytest.raises(params.ParameterError, match=r"unknown parameter\(s\) \['STESP'\].*STEPS"):
        params.validate(nb, {"STESP": 3})
    params.validate(nb, {"STEPS": 3, "PROFILE": "smoke"})


def test_every_registered_notebook_declares_its_profiles():
    """Each experiment's profile overrides name declared parameters of allowed types."""
    for exp in experiments.EXPERIMENTS.values():
        if not exp.notebook.exists():
            pytest.fail(f"{exp.name}: notebook {exp.notebook} missing")
        declared = params.notebook_parameters(exp.notebook)
        for required in ("PROFILE", "RUN_DIR", "DEVICE"):
            assert required in declared, f"{exp.name}: parameter {required} missing"
        assert {"SEED", "SEEDS"} & set(declared), f"{exp.name}: neither SEED nor SEEDS declared"
        for profile in experiments.PROFILES:
            params.validate(exp.notebook, exp.parameters(profile))


def test_runner_fails_before_any_work(results_root, capsys):
    code = run.main(["--profile", "smoke", "--only", "00", "--set", "N_CLIPZ=3", "--results", str(results_root)])
    assert code == 2
    assert "N_CLIPZ" in capsys.readouterr().err
    assert not results_root.exists(), "a run folder was created although the parameters were wrong"
    assert run.main(["--profile", "smoke", "--only", "no-such-notebook", "--results", str(results_root)]) == 2
    assert run.main(["--profile", "smoke", "--only", "00", "--set", "N_CLIPS='many'",
                     "--results", str(results_root)]) == 2


def test_the_quick_profile_is_the_notebooks_defaults():
    """One source of truth: a registry entry cannot carry a quick profile, and quick overrides nothing."""
    with pytest.raises(ValueError, match="quick profile is the notebook's parameter defaults"):
        experiments.Experiment(name="99_x", reproduces="-", profiles={"quick": {"N_CLIPS": 3}})
    for exp in experiments.EXPERIMENTS.values():
        assert exp.parameters("quick") == {"PROFILE": "quick"}
        assert params.notebook_parameters(exp.notebook)["PROFILE"].default == "quick", exp.name


def test_registry_rules_follow_the_registries(monkeypatch):
    from audiolib import params as P

    declared = P.parse_parameters('SETS: list = ["esc10"]  # {datasets} | {"audioset"}\n'
                                  'MODEL: str = "fc_audio"  # {models}\n'
                                  'MORE: list = ["esc10"]  # each in {datasets}\n')
    declared["SETS"].check(["audioset", "urbansound8k"], where="nb")
    with pytest.raises(P.ParameterError, match=r"'nope' is not one of them.*\{datasets\} = esc10, esc50"):
        declared["SETS"].check(["nope"], where="nb")
    with pytest.raises(P.ParameterError, match=r"MORE=\[\] is not allowed \(the list is empty\)"):
        declared["MORE"].check([], where="nb")
    # a model registered later is allowed without editing the rule
    with pytest.raises(P.ParameterError, match="resnet99"):
        declared["MODEL"].check("resnet99", where="nb")
    monkeypatch.setattr(P, "registry_names", lambda kind: ["resnet99"] if kind == "models" else [])
    declared["MODEL"].check("resnet99", where="nb")
