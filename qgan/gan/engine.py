"""M copies of one MLP stepped together: stacked weights, hand-written backward, fused Adam.

A :class:`StackedMLP` holds M copies of an ``nn.Sequential`` made of ``Linear``, ``LeakyReLU``,
``BatchNorm1d``, ``Dropout``, ``Tanh`` and ``Sigmoid`` (the tutorial's G and D). Activations are
``(M, R, C)``: model, row, feature. Each ``Linear`` is one batched product per stack,
``y[m] = x[m] W[m]^T + b[m]`` (``torch.baddbmm``); its backward is
``dW[m] = dy[m]^T x[m]``, ``db[m] = sum_r dy[m, r]``, ``dx[m] = dy[m] W[m]``.
``BatchNorm1d`` runs ATen's own kernels on ``(R, M*C)``: channel ``m*C + c`` is model m's
feature c, so batch statistics, running statistics and affine parameters stay per model.
The other backwards are ATen's (``leaky_relu_backward``, ``tanh_backward``, ``sigmoid_backward``),
so each model computes what autograd would, without autograd's bookkeeping.

All parameters of a stack live in one flat buffer of ``M * P`` floats (parameter i occupies
``[M*o_i, M*(o_i + n_i))``, viewed ``(M, *shape_i)``) and so do their gradients: one fused
Adam call updates every model of the stack. Adam is element-wise, so each model's update is
its own (nothing is averaged across models).

Dropout masks come from :func:`dropout_masks`, a counter-based hash of (model key, draw,
element): a model's masks depend on its own key only, not on its stack-mates or device.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

aten = torch.ops.aten
BN_EPS = 1e-5          # BatchNorm1d's default eps (the tutorial's layers use defaults)
BN_MOMENTUM = 0.1      # BatchNorm1d's default running-statistics momentum
ADAM_EPS = 1e-8       # torch.optim.Adam's default eps (the tutorial's)
SUPPORTED = (nn.Linear, nn.LeakyReLU, nn.BatchNorm1d, nn.Dropout, nn.Tanh, nn.Sigmoid)
_GAMMA = 0x9E3779B97F4A7C15 - (1 << 64)   # SplitMix64's increment, as a signed int64
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)    # SplitMix64's finaliser multipliers
_MIX2 = 0x94D049BB133111EB - (1 << 64)


def _wrap64(value: int) -> int:
    """``value`` modulo 2^64 as a signed int64 (what int64 arithmetic wraps to)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def dropout_masks(keys: torch.Tensor, draw: int, shapes: list[tuple[int, int]], p: float) -> list[torch.Tensor]:
    """Scaled keep-masks ``(M, R, C)`` float32 for each ``(R, C)`` in ``shapes``: ``1/(1-p)``
    where kept, 0 where dropped.

    With ``n = sum R*C`` and ``h = ceil(n / 2)``, hash j of draw d for model m is
    ``x_j = splitmix64(key_m + (d * h + j + 1) * gamma)``; element j < h is kept when bits 40..63
    of ``x_j`` are at least ``ceil(p * 2^24)``, element h + j when bits 16..39 are. So
    P(drop) = p to 2^-24, and each mask is a pure function of (key, draw, element), computed with
    wrapping int64 arithmetic, identical on CPU and CUDA and whatever else shares the stack.
    ``keys``: ``(M,)`` int64.
    """
    n = sum(r * c for r, c in shapes)
    half = (n + 1) // 2
    z = _hash_index(half, keys.device) + (keys + _wrap64(draw * half * _GAMMA))[:, None]   # (M, h)
    z = (z ^ _shift_right(z, 30)).mul_(_MIX1)
    z = (z ^ _shift_right(z, 27)).mul_(_MIX2)
    z = z ^ _shift_right(z, 31)
    threshold = math.ceil(p * (1 << 24))
    keep = torch.cat([_shift_right(z, 40) >= threshold, ((z >> 16) & 0xFFFFFF) >= threshold], 1)  # (M, 2h)
    scaled = torch.where(keep, 1.0 / (1.0 - p), 0.0)                      # float32
    out, start = [], 0
    for r, c in shapes:
        out.append(scaled[:, start:start + r * c].view(-1, r, c))
        start += r * c
    return out


_INDEX: dict[tuple[int, str], torch.Tensor] = {}


def _hash_index(n: int, device: torch.device) -> torch.Tensor:
    """``(j + 1) * gamma`` for j < n, int64 ``(n,)`` (cached per size and device)."""
    key = (n, str(device))
    if key not in _INDEX:
        _INDEX[key] = torch.arange(1, n + 1, device=device, dtype=torch.int64).mul_(_GAMMA)
    return _INDEX[key]


class Adam:
    """torch's fused Adam (``lr``, ``betas``, eps 1e-8, no weight decay) over named views of one
    flat parameter buffer; :meth:`update` steps the named parameters only, so a backward pass can
    update each layer while its gradient is still in cache. Element-wise: models never mix."""

    def __init__(self, views: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float,
                 betas: tuple[float, float]):
        self.views, self.grads, self.lr, self.betas = views, grads, lr, betas
        self.m = {k: torch.zeros_like(v) for k, v in views.items()}
        self.v = {k: torch.zeros_like(v) for k, v in views.items()}
        self.steps = {k: torch.zeros((), device=v.device) for k, v in views.items()}

    def update(self, names: list[str]) -> None:
        steps = [self.steps[k] for k in names]
        torch._foreach_add_(steps, 1)   # what torch.optim.Adam(fused=True) does, without its Python checks
        torch._fused_adam_([self.views[k] for k in names], [self.grads[k] for k in names],
                           [self.m[k] for k in names], [self.v[k] for k in names], [], steps, lr=self.lr,
                           beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=ADAM_EPS,
                           amsgrad=False, maximize=False)


class StackedMLP:
    """M copies of one ``nn.Sequential`` (:data:`SUPPORTED` layers), stepped as one.

    ``forward(x)``: ``(M, R, in) -> (M, R, out)``; ``backward(dy)`` after a saving forward
    writes the parameter gradients into :attr:`grad` (when asked) and returns ``dx``.
    """

    def __init__(self, nets: list[nn.Sequential], device: torch.device):
        self.m = len(nets)
        self.layers = list(nets[0])
        for layer in self.layers:
            if not isinstance(layer, SUPPORTED):
                raise TypeError(f"StackedMLP: unsupported layer {type(layer).__name__}")
        named = [list(net.named_parameters()) for net in nets]
        self.names = [name for name, _ in named[0]]
        sizes = [p.numel() for _, p in named[0]]
        self.flat = torch.empty(self.m * sum(sizes), device=device)     # (M*P,) parameters
        self.grad = torch.zeros_like(self.flat)                          # (M*P,) gradients
        self.views, self.grads, start = {}, {}, 0
        for i, (name, size) in enumerate(zip(self.names, sizes)):
            shape = (self.m, *named[0][i][1].shape)
            self.views[name] = self.flat[start:start + self.m * size].view(shape)
            self.grads[name] = self.grad[start:start + self.m * size].view(shape)
            with torch.no_grad():
                self.views[name].copy_(torch.stack([dict(n)[name].detach() for n in named]))
            start += self.m * size
        self.stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}   # BN layer -> running mean, var (M, C)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.BatchNorm1d):
                self.stats[i] = (torch.stack([net[i].running_mean for net in nets]).to(device),
                                 torch.stack([net[i].running_var for net in nets]).to(device))
        self.tracked = int(nets[0][next(iter(self.stats))].num_batches_tracked) if self.stats else 0
        self.tape: list = []

    def _param(self, i: int, kind: str) -> torch.Tensor:
        return self.views[f"{i}.{kind}"]

    def _linear(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """``x (M, R, in) -> x W^T + b (M, R, out)``. A single output column is an element-wise
        product and a row sum: MKL's batched matrix-vector kernel rounds differently with the
        batch size, which would make a model's result depend on its stack-mates."""
        weight, bias = self._param(i, "weight"), self._param(i, "bias").unsqueeze(1)   # (M, out, in), (M, 1, out)
        if weight.shape[1] == 1:
            return (x * weight).sum(-1, keepdim=True).add_(bias)
        return torch.baddbmm(bias, x, weight.transpose(1, 2))

    def _batch_norm(self, i: int, x: torch.Tensor, train: bool):
        m, r, c = x.shape
        flat = x.transpose(0, 1).reshape(r, m * c)                        # (R, M*C)
        mean, var = self.stats[i]
        y, save_mean, save_invstd = aten.native_batch_norm(
            flat, self._param(i, "weight").reshape(-1), self._param(i, "bias").reshape(-1),
            mean.view(-1), var.view(-1), train, BN_MOMENTUM, BN_EPS)
        return y.view(r, m, c).transpose(0, 1), (flat, save_mean, save_invstd)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] = (), train: bool = True,
                save: bool = False) -> torch.Tensor:
        """``x (M, R, in) -> (M, R, out)``; dropout uses ``masks`` in layer order (train only).
        ``save`` keeps what :meth:`backward` needs. Training-mode BatchNorm updates running stats."""
        tape, masks = [], list(masks)
        if train and self.stats:
            self.tracked += 1
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Linear):
                tape.append(x)
                x = self._linear(i, x)
            elif isinstance(layer, nn.LeakyReLU):
                x = torch.nn.functional.leaky_relu(x, layer.negative_slope)
                tape.append(x)
            elif isinstance(layer, nn.BatchNorm1d):
                x, saved = self._batch_norm(i, x, train)
                tape.append(saved)
            elif isinstance(layer, nn.Dropout):
                if train:
                    mask = masks.pop(0)
                    x = x * mask
                    tape.append(mask)
                else:
                    tape.append(None)
            else:
                x = torch.tanh(x) if isinstance(layer, nn.Tanh) else torch.sigmoid(x)
                tape.append(x)
        self.tape = tape if save else []
        return x

    def backward(self, dy: torch.Tensor, weights: bool = True, inputs: bool = True,
                 optimizer: Adam | None = None) -> torch.Tensor | None:
        """Back-propagate ``dy (M, R, out)`` through the last saving forward. ``weights``: write
        parameter gradients into :attr:`grad`; ``inputs``: return ``dx (M, R, in)``;
        ``optimizer``: step each layer's parameters once its gradients and ``dx`` are computed
        (the same result as stepping after the whole backward)."""
        tape, self.tape = self.tape, []
        for i in range(len(self.layers) - 1, -1, -1):
            layer, saved = self.layers[i], tape[i]
            if isinstance(layer, nn.Linear):
                if weights:
                    torch.bmm(dy.transpose(1, 2), saved, out=self.grads[f"{i}.weight"])
                    torch.sum(dy, dim=1, out=self.grads[f"{i}.bias"])
                dy = torch.bmm(dy, self._param(i, "weight")) if i > 0 or inputs else None
            elif isinstance(layer, nn.LeakyReLU):
                dy = aten.leaky_relu_backward(dy, saved, layer.negative_slope, True)
            elif isinstance(layer, nn.BatchNorm1d):
                flat, save_mean, save_invstd = saved
                m, r, c = dy.shape
                mean, var = self.stats[i]
                dx, dw, db = aten.native_batch_norm_backward(
                    dy.transpose(0, 1).reshape(r, m * c), flat, self._param(i, "weight").reshape(-1),
                    mean.view(-1), var.view(-1), save_mean, save_invstd, True, BN_EPS, [True, weights, weights])
                if weights:
                    self.grads[f"{i}.weight"].view(-1).copy_(dw)
                    self.grads[f"{i}.bias"].view(-1).copy_(db)
                dy = dx.view(r, m, c).transpose(0, 1)
                if optimizer is not None and weights:
                    optimizer.update([f"{i}.weight", f"{i}.bias"])
            elif isinstance(layer, nn.Dropout):
                dy = dy * saved
            elif isinstance(layer, nn.Tanh):
                dy = aten.tanh_backward(dy, saved)
            else:
                dy = aten.sigmoid_backward(dy, saved)
            if optimizer is not None and weights and isinstance(layer, nn.Linear):
                optimizer.update([f"{i}.weight", f"{i}.bias"])
        return dy

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """Each model's ``state_dict`` (CPU tensors, the module's key order)."""
        out = []
        for m in range(self.m):
            state = {}
            for i, layer in enumerate(self.layers):
                for kind in ("weight", "bias"):
                    if f"{i}.{kind}" in self.views:
                        state[f"{i}.{kind}"] = self.views[f"{i}.{kind}"][m].detach().cpu().clone()
                if i in self.stats:
                    state[f"{i}.running_mean"] = self.stats[i][0][m].cpu().clone()
                    state[f"{i}.running_var"] = self.stats[i][1][m].cpu().clone()
                    state[f"{i}.num_batches_tracked"] = torch.tensor(self.tracked)
            out.append(state)
        return out
