"""Every registered model, automatically: forward shape, finite output, backward, batch consistency."""

from __future__ import annotations


import pytest
import torch

from audiolib.models import accepts, complexity, create_model, default_input_shape, list_models

NUM_CLASSES = 5


def _build(name: str):
    kw = {}
    if accepts(name, "width"):
        kw["width"] = 0.25
    torch.manual_seed(0)
    return create_model(name, NUM_CLASSES, **kw)


def _example(model, name: str, batch: int) -> torch.Tensor:
    if hasattr(model, "example_input"):
        return model.example_input(batch)
    torch.manual_seed(1)
    return torch.randn(batch, *default_input_shape(name))


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_and_batch_consistency(name):
    model = _build(name)
    x = _example(model, name, 2)
    model.train()
    out = model(x)
    assert out.shape == (2, NUM_CLASSES), f"{name}: output shape {tuple(out.shape)}"
    assert torch.isfinite(out).all(), f"{name}: non-finite output"
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), f"{name}: missing/non-finite grads"

    model.eval()
    with torch.no_grad():
        together = model(x)
        apart = torch.cat([model(x[i:i + 1]) for i in range(x.shape[0])])
    torch.testing.assert_close(together, apart, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_complexity_counts_weights(name):
    model = _build(name)
    if hasattr(model, "example_input"):
        pytest.skip(f"{name} takes several inputs; complexity() counts single-input models")
    weights, mults = complexity(model, default_input_shape(name))
    assert weights == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert mults > 0


def test_unknown_model_and_argument_are_named():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope", 3)
    with pytest.raises(TypeError, match="unknown argument"):
        create_model("fc_audio", 3, not_an_argument=1)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("fc_audio", 0)


def test_fc_complexity_matches_hand_count():
    # 6144 -> 1000 -> 1000 -> 1000 -> 3087: weights include biases; multiplies do not.
    model = create_model("fc_audio", 3087)
    weights, mults = complexity(model, (1, 96, 64))
    layers = [(6144, 1000), (1000, 1000), (1000, 1000), (1000, 3087)]
    assert weights == sum(i * o + o for i, o in layers)
    assert mults == sum(i * o for i, o in layers)


def test_bottleneck_embedding():
    model = create_model("fc_audio", 7, layers=2, units=32, bottleneck=16)
    x = torch.randn(3, 1, 96, 64)
    assert model.embedding(x).shape == (3, 16)
    assert model.embedding_dim == 16
