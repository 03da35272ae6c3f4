# By the card's author.
# Fans from numel (receptive field = numel / (out * in)), draws through .data on a flattened
# view, gain with an explicit branch per nonlinearity.
import math

import torch


def _fans(t):
    if len(t.shape) < 2:
        raise ValueError("xavier/kaiming need a tensor with 2 or more dimensions")
    out_f, in_f = t.shape[0], t.shape[1]
    rf = t.numel() // (out_f * in_f) if t.numel() else 1
    return in_f * rf, out_f * rf


def _gain(nonlinearity, a):
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + float(a) ** 2))
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "selu":
        return 3.0 / 4.0
    if nonlinearity in ("sigmoid", "linear") or nonlinearity.startswith("conv"):
        return 1.0
    raise ValueError(nonlinearity)


@torch.no_grad()
def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _fans(tensor)
    limit = gain * (6.0 / (fan_in + fan_out)) ** 0.5
    tensor.data.view(-1).uniform_(-limit, limit, generator=generator)
    return tensor


@torch.no_grad()
def kaiming_normal_(
    tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None
):
    fan_in, fan_out = _fans(tensor)
    fan = {"fan_in": fan_in, "fan_out": fan_out}[mode]
    tensor.data.view(-1).normal_(
        mean=0.0, std=_gain(nonlinearity, a) / math.sqrt(fan), generator=generator
    )
    return tensor
