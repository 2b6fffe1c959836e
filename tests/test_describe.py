"""The declarative model description: validation, round trips, building, initialisation, L2, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audiolib.models.describe import DescriptionError, ModelDescription, conv_description, fc_description


def _full():
    return ModelDescription(
        structure=[{"type": "conv2d", "channels": 4, "kernel_size": [3, 5], "pool": [2, 4], "batch_norm": True},
                   {"type": "dense", "units": 16, "activation": "tanh", "dropout": 0.25},
                   {"type": "residual", "units": 8, "layers": 3, "dropout": 0.1}],
        loss="mse", optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.8}, init_scale=0.02, l2=1e-3, name="mixed")


def test_round_trip_dict_and_yaml():
    d = _full()
    assert ModelDescription.from_dict(d.to_dict()) == d
    assert ModelDescription.from_yaml(d.to_yaml()) == d
    # defaults are written out, so the dict is self-describing
    plain = ModelDescription([{"type": "dense", "units": 4}]).to_dict()
    assert plain["structure"][0] == {"type": "dense", "units": 4, "activation": "relu", "dropout": 0.0,
                                     "batch_norm": False}
    assert plain["optimizer"] == {"name": "adam", "lr": 1e-3} and plain["init_scale"] is None
    assert ModelDescription(optimizer="rmsprop").optimizer == {"name": "rmsprop", "lr": 1e-3, "momentum": 0.0}


@pytest.mark.parametrize("fields, message", [
    ({"structure": [{"type": "dense"}]}, r"structure\[0\] \(dense\): 'units' is required"),
    ({"structure": [{"type": "dense", "units": 4}, {"type": "lstm"}]}, r"structure\[1\]: type 'lstm' unknown"),
    ({"structure": [{"type": "dense", "units": 0}]}, r"structure\[0\] \(dense\)\.units must be a positive int"),
    ({"structure": [{"type": "dense", "units": 4, "dropout": 1.0}]}, r"structure\[0\] \(dense\)\.dropout"),
    ({"structure": [{"type": "residual", "units": 4, "activaton": "relu"}]}, r"unknown key\(s\) \['activaton'\]"),
    ({"structure": [{"type": "dense", "units": 4, "activation": "swish"}]}, r"\.activation: 'swish' unknown"),
    ({"structure": [{"type": "conv1d", "channels": 4, "kernel_size": [3, 3]}]}, r"conv1d takes a single int"),
    ({"loss": "hinge"}, r"loss 'hinge' unknown"),
    ({"optimizer": {"name": "adagrad"}}, r"optimizer.name 'adagrad' unknown"),
    ({"optimizer": {"name": "adam", "lr": -1}}, r"optimizer.lr must be a positive number"),
    ({"optimizer": {"name": "adam", "momentum": 0.9}}, r"optimizer \(adam\): unknown key\(s\) \['momentum'\]"),
    ({"init_scale": 0}, r"init_scale must be a positive number"),
    ({"l2": -0.1}, r"l2 must be a number >= 0"),
])
def test_validation_names_the_field(fields, message):
    with pytest.raises(DescriptionError, match=message):
        ModelDescription(**fields)


def test_from_dict_rejects_unknown_fields_and_bad_yaml():
    with pytest.raises(DescriptionError, match=r"unknown field\(s\) \['layers'\]"):
        ModelDescription.from_dict({"layers": []})
    with pytest.raises(DescriptionError, match="not valid YAML"):
        ModelDescription.from_yaml("structure: [")


def test_build_errors_name_the_layer():
    with pytest.raises(DescriptionError, match=r"structure\[1\] \(conv2d\): cannot follow a flat"):
        ModelDescription([{"type": "dense", "units": 4}, {"type": "conv2d", "channels": 2}]).build()
    with pytest.raises(DescriptionError, match=r"structure\[0\] \(conv1d\)\.pool 16 exceeds the 10 frames"):
        ModelDescription([{"type": "conv1d", "channels": 2, "pool": 16}]).build()


def test_dense_net_matches_hand_count_and_shapes():
    net = ModelDescription([{"type": "dense", "units": 8}]).build((10, 128), num_classes=3)
    assert sum(p.numel() for p in net.parameters()) == (1280 * 8 + 8) + (8 * 3 + 3)
    x = torch.randn(5, 10, 128)
    assert net(x).shape == (5, 3) and net.embedding(x).shape == (5, 8) and net.embedding_dim == 8
    # [B, 1, frames, dim] (patch-style batches) is accepted too
    torch.testing.assert_close(net(x.unsqueeze(1)), net(x))


def test_every_layer_type_builds_with_expected_shapes():
    x = torch.randn(3, 10, 128)
    conv1 = ModelDescription([{"type": "conv1d", "channels": 6, "pool": 2}]).build((10, 128), 4)
    assert conv1.embedding_dim == 6 * 5 and conv1(x).shape == (3, 4)
    conv2 = _full().build((10, 128), 4)
    assert conv2(x).shape == (3, 4) and conv2.embedding_dim == 8
    pooled = ModelDescription([{"type": "global_pool", "mode": "mean"}]).build((10, 128), 2)
    torch.testing.assert_close(pooled.embedding(x), x.mean(1))
    maxed = ModelDescription([{"type": "conv1d", "channels": 3}, {"type": "global_pool", "mode": "max"}]).build()
    assert maxed.embedding_dim == 3 and maxed(x).shape == (3, 527)


def test_residual_block_adds_its_input():
    net = ModelDescription([{"type": "residual", "units": 1280, "layers": 2}]).build((10, 128), 2)
    block = net.body[1]
    with torch.no_grad():  # a zero body leaves relu(x + 0)
        for m in block.body:
            if isinstance(m, nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
    x = torch.randn(4, 10, 128)
    torch.testing.assert_close(net.embedding(x), torch.relu(x.flatten(1)))
    projected = ModelDescription([{"type": "residual", "units": 7}]).build((10, 128), 2)
    assert isinstance(projected.body[1].project, nn.Linear) and projected.embedding_dim == 7


def test_init_scale_sets_gaussian_weights_and_zero_biases():
    torch.manual_seed(0)
    net = ModelDescription([{"type": "dense", "units": 512}], init_scale=0.05).build((10, 128), 10)
    w = net.body[1].weight
    assert abs(w.std().item() - 0.05) < 0.001 and abs(w.mean().item()) < 0.001  # 655k draws: ~5e-5 s.e.
    assert (net.body[1].bias == 0).all() and (net.output.bias == 0).all()
    default = ModelDescription([{"type": "dense", "units": 512}]).build((10, 128), 10)
    assert default.body[1].weight.abs().max() <= 1 / np.sqrt(1280) + 1e-6  # PyTorch's uniform(+-1/sqrt(fan_in))


def test_train_config_maps_loss_optimizer_and_l2_on_weights_only():
    from audiolib.train import make_optimizer

    d = ModelDescription([{"type": "dense", "units": 4, "batch_norm": True}], loss="mse",
                         optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.0}, l2=0.5)
    cfg = d.train_config(steps=3, batch_size=2, device="cpu")
    assert (cfg.loss, cfg.optimizer, cfg.lr, cfg.momentum, cfg.steps) == ("mse", "sgd", 0.1, 0.0, 3)
    assert ModelDescription().train_config().loss == "bce"

    torch.manual_seed(0)
    net = d.build((2, 3), 2)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    opt = make_optimizer(cfg.param_groups(net), cfg)
    x, y = torch.randn(4, 2, 3), torch.rand(4, 2)
    net.train()
    loss = torch.nn.functional.mse_loss(torch.sigmoid(net(x)), y)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in net.named_parameters()}
    opt.step()
    for name, p in net.named_parameters():
        decay = 0.5 if p.dim() > 1 else 0.0  # weights get l2 * w added to the gradient; biases/BN do not
        expected = before[name] - 0.1 * (grads[name] + decay * before[name])
        torch.testing.assert_close(p.detach(), expected, msg=name)


def test_fit_learns_a_separable_problem():
    from audiolib.data.audioset import EmbeddingSet
    from audiolib.metrics import balanced_metrics
    from audiolib.train import fit, predict

    rng = np.random.default_rng(0)
    y = rng.random((200, 3)) < 0.3
    x = np.full((200, 10, 128), 128, np.uint8)
    x[:, :, :3] = np.where(y[:, None, :], 200, 60)  # class k lights up dimension k
    x[:, :, 3:] = rng.integers(0, 256, (200, 10, 125))
    data = EmbeddingSet(x, y, [str(i) for i in range(200)], ["a", "b", "c"])
    torch.manual_seed(0)
    d = fc_description(width=1 / 32, dropout=0.1, optimizer={"name": "adam", "lr": 3e-3})
    net = d.build((10, 128), 3)
    fit(net, data.subset(range(150)), d.train_config(steps=60, batch_size=32, device="cpu", progress=False))
    scores = predict(net, data.subset(range(150, 200)), device="cpu")
    assert balanced_metrics(y[150:], scores)["AUC"] > 0.95


def test_conv_description_registered_families_run():
    from audiolib.models import create_model

    for name in ("x18_fc", "x18_residual", "x18_conv"):
        net = create_model(name, 6, width=0.125)
        assert net(torch.zeros(2, 10, 128)).shape == (2, 6)
    assert conv_description(0.5).structure[0] == {"type": "conv1d", "channels": 128, "kernel_size": 3, "pool": 2,
                                                  "activation": "relu", "dropout": 0.0, "batch_norm": False}


def test_fully_connected_family_has_the_reports_two_layers():
    # "the model used in the experiment is a two-layer vanilla fully-connected network" (X18 sec. 3.5);
    # its width and dropout are the workbook's choices, scaled by ``width``
    d = fc_description(width=0.25, dropout=0.1)
    assert [layer["type"] for layer in d.structure] == ["dense", "dense"]
    assert [layer["units"] for layer in d.structure] == [256, 256]
    assert all(layer["dropout"] == 0.1 for layer in d.structure)
