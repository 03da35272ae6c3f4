"""Draws into a fresh tensor with torch.rand / torch.randn (generator=, on the tensor's device and
dtype), scaled, then copied in under no_grad; gains from a lookup table."""

import math

import torch

GAINS = {
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 0.75,
}


def _fan_in_out(t):
    if t.ndim < 2:
        raise ValueError("need at least 2 dims")
    rf = 1
    for s in t.shape[2:]:
        rf *= s
    return t.shape[1] * rf, t.shape[0] * rf


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fi, fo = _fan_in_out(tensor)
    a = gain * math.sqrt(6.0 / (fi + fo))
    u = torch.rand(
        tensor.shape, generator=generator, device=tensor.device, dtype=tensor.dtype
    )
    with torch.no_grad():
        tensor.copy_((2 * u - 1) * a)
    return tensor


def kaiming_normal_(
    tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None
):
    fi, fo = _fan_in_out(tensor)
    if nonlinearity == "leaky_relu":
        gain = math.sqrt(2.0 / (1.0 + a * a))
    else:
        gain = GAINS[nonlinearity]
    std = gain / math.sqrt(fo if mode == "fan_out" else fi)
    z = torch.randn(
        tensor.shape, generator=generator, device=tensor.device, dtype=tensor.dtype
    )
    with torch.no_grad():
        tensor.copy_(z * std)
    return tensor
