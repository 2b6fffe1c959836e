"""Adding a CNN is one file, a dataset one recipe file: nothing else is edited to use them.

Each test writes the one new file into a temporary folder added to the package's search path
(as a file dropped into ``audiolib/models/`` or ``audiolib/data/`` would be found), then uses
the new name where the notebooks take names: the parameter rules, the trial runner, the loaders.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from torch.utils.data import TensorDataset

import audiolib.data
import audiolib.data.splits
import audiolib.models
from audiolib import params
from audiolib.train import TrainConfig
from audiolib.trials import run_trial

CNN_FILE = '''
from torch import nn
from audiolib.models.registry import register_model


@register_model
def tiny_extension_cnn(num_classes: int, width: float = 1.0) -> nn.Module:
    channels = max(1, int(8 * width))
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(channels, num_classes))
'''

RECIPE_FILE = '''
from audiolib.data.synthetic import load_synthetic

DATASETS = {"tiny_extension_set": ("load_tiny", {})}


def load_tiny(n_clips: int = 12, seed: int = 0):
    clips = load_synthetic(n_clips=n_clips, seed=seed)
    clips.name = "tiny_extension_set"
    return clips
'''


@pytest.fixture
def extra_package_dir(tmp_path, monkeypatch):
    def add(package, name: str, source: str):
        folder = tmp_path / package.__name__.replace(".", "_")
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
        monkeypatch.delitem(sys.modules, f"{package.__name__}.{name}", raising=False)
    return add


def test_a_cnn_is_one_file(extra_package_dir):
    extra_package_dir(audiolib.models, "tiny_extension_cnn", CNN_FILE)
    try:
        assert "tiny_extension_cnn" in audiolib.models.list_models()
        rule = params.parse_parameters('MODELS: list = ["fc_audio"]  # {models}\n')["MODELS"]
        rule.check(["tiny_extension_cnn"], where="notebook")          # the notebooks' rule allows it
        g = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.randn(16, 1, 96, 64, generator=g), (torch.rand(16, 4, generator=g) < 0.5).float())
        trial = run_trial("tiny_extension_cnn", data, TrainConfig(steps=2, batch_size=8, progress=False,
                                                                   device="cpu"), num_classes=4,
                          model_kwargs={"width": 0.5})
        assert trial.metrics["steps"] == 2
    finally:
        audiolib.models.unregister_model("tiny_extension_cnn")
    assert "tiny_extension_cnn" not in audiolib.models.list_models()


def test_a_dataset_is_one_recipe_file(extra_package_dir):
    extra_package_dir(audiolib.data, "tiny_extension_set", RECIPE_FILE)
    assert "tiny_extension_set" in audiolib.data.list_datasets()
    rule = params.parse_parameters('DATASETS: list = ["esc10"]  # {datasets}\n')["DATASETS"]
    rule.check(["tiny_extension_set"], where="notebook")
    clips = audiolib.data.load_dataset("tiny_extension_set", n_clips=6)
    assert len(clips) == 6
    loaded, skipped = audiolib.data.splits.load_available(["tiny_extension_set"], n_clips=4)
    assert len(loaded["tiny_extension_set"]) == 4 and not skipped


def test_a_notebook_is_the_notebook_and_one_registry_entry():
    """Every notebook has one entry in ``experiments`` and every entry a notebook; the runner, the
    smoke test and the report take their list from that registry, so nothing else is edited."""
    from audiolib import experiments, paths

    notebooks = sorted(p.stem for p in (paths.project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks == sorted(experiments.EXPERIMENTS)
    for exp in experiments.EXPERIMENTS.values():
        assert exp.notebook.is_file()
        params.notebook_parameters(exp.notebook)            # its parameters cell parses and its defaults pass
        for profile in ("smoke", "full"):
            params.validate(exp.notebook, exp.parameters(profile))
