"""H17 architectures, the ResNet family with torchvision names, and the VGG layer builder."""

from __future__ import annotations

import pytest
import torch

from audiolib.models import complexity, create_model
from audiolib.models.resnet import ResNetAudio, load_torchvision_resnet
from audiolib.models.vgg import CONFIGS, make_vgg_layers


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- VGG layer builder ----------------------------------------------------------------------------
def test_make_vgg_layers_loads_a_vggish_state_dict():
    # The VGGish port's feature keys, written out by hand: conv at 0, 3, 6, 8, 11, 13.
    shapes = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    state = {}
    for idx, (cout, cin) in shapes.items():
        state[f"{idx}.weight"] = torch.randn(cout, cin, 3, 3)
        state[f"{idx}.bias"] = torch.randn(cout)
    features = make_vgg_layers(CONFIGS["vggish"], batch_norm=False, in_channels=1)
    features.load_state_dict(state)  # strict: every key present, none extra
    assert torch.equal(features[13].weight, state["13.weight"])
    assert features(torch.zeros(2, 1, 96, 64)).shape == (2, 512, 6, 4)


def test_make_vgg_layers_batch_norm_indices_and_bad_cfg():
    f = make_vgg_layers([8, "M", 16], batch_norm=True, in_channels=3)
    assert [type(m).__name__ for m in f] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d",
                                             "ReLU"]
    with pytest.raises(ValueError, match="cfg entries"):
        make_vgg_layers([8, "X"], batch_norm=False)
    with pytest.raises(ValueError, match="in_channels"):
        make_vgg_layers([8], batch_norm=False, in_channels=0)


# --- ResNet with torchvision names ----------------------------------------------------------------
def _torchvision_resnet34_keys() -> set[str]:
    """torchvision's resnet34 state-dict keys, generated from its published layout."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = {"conv1.weight", "fc.weight", "fc.bias"} | {f"bn1.{s}" for s in bn}
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            prefix = f"layer{stage}.{b}"
            keys |= {f"{prefix}.conv1.weight", f"{prefix}.conv2.weight"}
            keys |= {f"{prefix}.bn{i}.{s}" for i in (1, 2) for s in bn}
            if b == 0 and stage > 1:
                keys |= {f"{prefix}.downsample.0.weight"} | {f"{prefix}.downsample.1.{s}" for s in bn}
    return keys


def test_resnet34_matches_torchvision_names_and_size():
    with torch.device("meta"):
        model = create_model("resnet34", 1000, in_chans=3)
    assert set(model.state_dict()) == _torchvision_resnet34_keys()
    weights, mults = complexity(model, (3, 224, 224))
    # torchvision documents ResNet-34 as 21,797,672 parameters and 3.66 GFLOPS (multiply-adds).
    assert weights == 21_797_672
    assert abs(mults / 3.66e9 - 1) < 0.01
    out = create_model("resnet34", 7, in_chans=1, width=0.25)(torch.zeros(2, 1, 128, 300))
    assert out.shape == (2, 7)


def test_load_torchvision_resnet_adapts_conv1_and_skips_fc(tmp_path):
    torch.manual_seed(0)
    # Same layout as a torchvision file (names checked above), at a quarter width for speed.
    source = create_model("resnet34", 1000, in_chans=3, width=0.25)
    path = tmp_path / "resnet34-imagenet.pth"
    torch.save(source.state_dict(), path)
    target = create_model("resnet34", 10, in_chans=1, width=0.25)
    fc_before = target.fc.weight.detach().clone()
    report = load_torchvision_resnet(target, path)
    assert report == {"adapted": ["conv1.weight"], "skipped": ["fc.bias", "fc.weight"]}
    torch.testing.assert_close(target.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(target.layer3[2].conv2.weight,
                       source.layer3[2].conv2.weight)
    assert torch.equal(target.layer2[0].downsample[1].running_var, source.layer2[0].downsample[1].running_var)
    assert torch.equal(target.fc.weight, fc_before)
    # A grey image through the summed filters equals the RGB network on the image repeated 3 times.
    source.eval(), target.eval()
    x = torch.randn(1, 1, 64, 80)
    torch.testing.assert_close(target.embedding(x), source.embedding(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-4)


def test_load_torchvision_resnet_keeps_fc_when_it_fits_and_accepts_wrapped_dicts(tmp_path):
    source = create_model("resnet34", 10, in_chans=3, width=0.25)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    target = create_model("resnet34", 10, in_chans=3, width=0.25)
    assert load_torchvision_resnet(target, path) == {"adapted": [], "skipped": []}
    assert torch.equal(target.fc.weight, source.fc.weight)


def test_load_torchvision_resnet_errors_name_the_file(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(create_model("resnet50_audio", 10, width=0.25).state_dict(), path)
    with pytest.raises(ValueError, match="resnet50.pth.*does not fit"):
        load_torchvision_resnet(create_model("resnet34", 10, width=0.25), path)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_torchvision_resnet(create_model("resnet34", 10, width=0.25), tmp_path / "nope.pth")
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth.*unreadable"):
        load_torchvision_resnet(create_model("resnet34", 10, width=0.25), bad)


def test_resnet50_audio_structure():
    model = create_model("resnet50_audio", 5, width=0.125)
    assert model.conv1.stride == (1, 1) and model.conv1.kernel_size == (7, 7)
    assert model.pool_size == (6, 4)
    assert model(torch.zeros(2, 1, 96, 64)).shape == (2, 5)
    with pytest.raises(ValueError, match="average pool is fixed"):
        model(torch.zeros(1, 1, 128, 64))
    with_bn = create_model("resnet50_audio", 5, width=0.125, bottleneck=128)
    assert with_bn.embedding_dim == 128 and with_bn.embedding(torch.zeros(2, 1, 96, 64)).shape == (2, 128)
    with pytest.raises(ValueError, match="layers"):
        ResNetAudio("basic", (1, 1, 1), 3)


# --- the five H17 architectures -------------------------------------------------------------------
H17_MODELS = ("fc_audio", "alexnet_audio", "vgg_audio", "inception_v3_audio", "resnet50_audio")

# H17 sec. 3.3 (3087 outputs, 96x64 input): weights and multiplies (the paper's Table 1 lists example labels).
PAPER_COUNTS = {
    "fc_audio": (11.2e6, 11.2e6),
    "alexnet_audio": (37.3e6, 767e6),
    "vgg_audio": (62e6, 2.4e9),
    "inception_v3_audio": (28e6, 4.7e9),
    "resnet50_audio": (30e6, 1.9e9),
}


@pytest.mark.parametrize("name", H17_MODELS)
def test_complexity_agrees_with_the_paper(name):
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = create_model(name, 3087)
    weights, mults = complexity(model, (1, 96, 64))
    paper_weights, paper_mults = PAPER_COUNTS[name]
    assert abs(weights / paper_weights - 1) < 0.05, f"{name}: {weights / 1e6:.2f}M weights"
    assert abs(mults / paper_mults - 1) < 0.05, f"{name}: {mults / 1e9:.3f}B multiplies"


def test_inception_stem_readings_and_the_papers_counts():
    # sec. 3.3.4: "28M weights and 4.7B multiplies". The default reading (the patch enters at
    # Conv2d_4a_3x3) is within 2 % of both; the patch entering at Conv2d_3b_1x1 gives 16 % more multiplies.
    with torch.device("meta"):
        default = create_model("inception_v3_audio", 3087)
        other = create_model("inception_v3_audio", 3087, stem="3b")
    w, x = complexity(default, (1, 96, 64))
    assert abs(w / 28e6 - 1) < 0.02 and abs(x / 4.7e9 - 1) < 0.02
    assert abs(w / 27.94e6 - 1) < 0.001 and abs(x / 4.642e9 - 1) < 0.001
    w3, x3 = complexity(other, (1, 96, 64))
    assert abs(x3 / 5.438e9 - 1) < 0.001 and 1.10 < x3 / 4.7e9 < 1.20
    assert not hasattr(default.trunk, "Conv2d_3b_1x1") and hasattr(other.trunk, "Conv2d_3b_1x1")
    with pytest.raises(ValueError, match="stem"):
        create_model("inception_v3_audio", 3, stem="1a")


@pytest.mark.parametrize("name", H17_MODELS)
def test_h17_models_train_and_embed(name):
    torch.manual_seed(0)
    model = create_model(name, 6, width=0.0625, bottleneck=128)
    x = torch.randn(3, 1, 96, 64)
    out = model(x)
    assert out.shape == (3, 6) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    emb = model.embedding(x)
    assert model.embedding_dim == 128 and emb.shape == (3, 128)
    torch.testing.assert_close(model(x[:1]), model(x)[:1], rtol=1e-4, atol=1e-5)


def test_alexnet_pool5_variants():
    with torch.device("meta"):
        model = create_model("alexnet_audio", 3087)
    assert model.trunk.features[0].stride == (2, 1)
    assert model.trunk.fc[0].in_features == 256 * 2 * 2
    assert not any(isinstance(m, torch.nn.LocalResponseNorm) for m in model.modules())
    with torch.device("meta"):
        own_pool5 = create_model("alexnet_audio", 3087, final_map=None)
    weights, mults = complexity(own_pool5, (1, 96, 64))
    assert own_pool5.trunk.fc[0].in_features == 256 * 4 * 5   # conv5's 10x12 map after a 3x3/2 pool
    assert abs(weights / 54.13e6 - 1) < 0.001 and abs(mults / 784.4e6 - 1) < 0.001


def test_vgg_audio_is_configuration_e_with_batch_norm():
    with torch.device("meta"):
        model = create_model("vgg_audio", 10)
    convs = [m for m in model.trunk.features if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in model.trunk.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 16 and len(bns) == 16
    assert model.trunk.fc[0].in_features == 512 * 3 * 2
    with pytest.raises(ValueError, match="config"):
        create_model("vgg_audio", 10, config="Z")


@pytest.mark.parametrize("stem", ["4a", "3b"])
def test_inception_final_map_is_10x6(stem):
    model = create_model("inception_v3_audio", 4, width=0.0625, stem=stem).eval()
    seen = {}

    def remember(module, inputs, output):
        seen["shape"] = tuple(output.shape[-2:])

    model.trunk.Mixed_7c.register_forward_hook(remember)
    model(torch.zeros(1, 1, 96, 64))
    assert seen["shape"] == (10, 6)
    assert not hasattr(model.trunk, "AuxLogits") and not hasattr(model.trunk, "Conv2d_1a_3x3")
