import math

import pytest
import torch
import torch.nn as nn

from qgan.gan.engine import Adam, StackedMLP, dropout_masks
from qgan.gan.models import Discriminator, Generator

KEYS = torch.tensor([11, 2 ** 62 + 5, 7, 123456789], dtype=torch.int64)


def test_dropout_masks_drop_at_rate_p_and_scale_the_rest():
    masks = dropout_masks(KEYS, 0, [(64, 512), (64, 256)], 0.3)
    assert [m.shape for m in masks] == [(4, 64, 512), (4, 64, 256)]
    values = torch.cat([m.reshape(4, -1) for m in masks], 1)
    assert values.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    n = values.shape[1]
    dropped = (values == 0).double().mean(1)   # per model: binomial(n, 0.3) / n
    assert (dropped - 0.3).abs().max() < 5 * math.sqrt(0.3 * 0.7 / n)


def test_dropout_masks_are_a_function_of_key_draw_and_element_only():
    shapes = [(8, 512), (8, 256), (4, 512), (4, 256)]
    group = dropout_masks(KEYS, 5, shapes, 0.3)
    for m in range(len(KEYS)):
        alone = dropout_masks(KEYS[m:m + 1], 5, shapes, 0.3)
        assert all(torch.equal(g[m:m + 1], a) for g, a in zip(group, alone))
    other_draw = dropout_masks(KEYS, 6, shapes, 0.3)
    assert not torch.equal(group[0], other_draw[0])
    assert not torch.equal(group[0][0], group[0][2])  # different keys, different masks


def test_dropout_masks_keep_independent_bits():
    """No correlation between neighbouring elements, between the two halves made from one hash,
    or between draws: each pairwise keep-rate product matches 0.7^2 within 5 sigma."""
    (mask,) = dropout_masks(KEYS[:1], 0, [(1, 200_000)], 0.3)
    keep = (mask.view(-1) > 0).double()
    half = keep.numel() // 2
    (later,) = dropout_masks(KEYS[:1], 1, [(1, 200_000)], 0.3)
    pairs = {"neighbours": keep[1:] * keep[:-1], "halves": keep[:half] * keep[half:2 * half],
             "draws": keep * (later.view(-1) > 0).double()}
    for name, both in pairs.items():
        assert abs(both.mean().item() - 0.49) < 5 * math.sqrt(0.49 * 0.51 / both.numel()), name


def _reference_forward(net: nn.Sequential, x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """The module's own forward in train mode, with the engine's masks in place of Dropout's."""
    masks = list(masks)
    for layer in net:
        x = x * masks.pop(0) if isinstance(layer, nn.Dropout) else layer(x)
    return x


@pytest.mark.parametrize("which", ["generator", "discriminator"])
def test_stacked_backward_matches_autograd_per_model(which):
    """Three stacked models against three autograd modules: outputs, every parameter gradient,
    input gradients and BatchNorm running statistics agree to float rounding."""
    torch.manual_seed(0)
    nets = [(Generator(16) if which == "generator" else Discriminator()).model for _ in range(3)]
    width_in = 16 if which == "generator" else 784
    x = torch.randn(3, 32, width_in)
    widths = [layer.out_features for layer in nets[0] if isinstance(layer, nn.Linear)][:2]
    masks = dropout_masks(KEYS[:3], 0, [(32, w) for w in widths], 0.3) if which == "discriminator" else []
    stack = StackedMLP([_copy(n) for n in nets], torch.device("cpu"))
    out = stack.forward(x, masks, save=True)
    dy = torch.randn_like(out)
    dx = stack.backward(dy)
    for m, net in enumerate(nets):
        net.train()
        xm = x[m].clone().requires_grad_(True)
        ref = _reference_forward(net, xm, [k[m] for k in masks])
        ref.backward(dy[m])
        torch.testing.assert_close(out[m], ref.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(dx[m], xm.grad, rtol=1e-4, atol=1e-6)
        for name, p in net.named_parameters():
            torch.testing.assert_close(stack.grads[name][m], p.grad, rtol=1e-4, atol=1e-6)
        for i, (mean, var) in stack.stats.items():
            torch.testing.assert_close(mean[m], net[i].running_mean)
            torch.testing.assert_close(var[m], net[i].running_var)


def test_layer_by_layer_adam_equals_torch_adam_after_backward():
    """Updating each layer as soon as its gradient exists gives torch.optim.Adam's result."""
    torch.manual_seed(1)
    net = Generator(16).model
    stack = StackedMLP([_copy(net)], torch.device("cpu"))
    opt_stack = Adam(stack.views, stack.grads, 2e-4, (0.5, 0.999))
    opt_ref = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    for _ in range(3):
        x = torch.randn(1, 32, 16)
        dy = torch.randn(1, 32, 784)
        stack.forward(x, save=True)
        stack.backward(dy, inputs=False, optimizer=opt_stack)
        opt_ref.zero_grad()
        net(x[0]).backward(dy[0])
        opt_ref.step()
    state = stack.state_dicts()[0]
    for name, p in net.named_parameters():
        torch.testing.assert_close(state[name], p.detach(), rtol=1e-4, atol=1e-6)
    assert int(state["2.num_batches_tracked"]) == int(net[2].num_batches_tracked) == 3


def test_unsupported_layers_are_refused():
    with pytest.raises(TypeError, match="Conv1d"):
        StackedMLP([nn.Sequential(nn.Conv1d(1, 1, 3))], torch.device("cpu"))


def _copy(net: nn.Sequential) -> nn.Sequential:
    import copy
    return copy.deepcopy(net)
