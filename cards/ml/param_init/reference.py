"""Xavier / Glorot uniform (Glorot & Bengio, 2010) and Kaiming / He normal (He et al., 2015)
initialisation, as torch.nn.init, with torch's fan and gain rules."""

import math

import torch


def _fans(tensor):
    if tensor.dim() < 2:
        raise ValueError("fan in and fan out need a tensor with at least 2 dims")
    # Weights are (out, in, *kernel): each output sees in * prod(kernel) inputs.
    receptive = math.prod(tensor.shape[2:])  # 1 for a Linear weight
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _gain(nonlinearity, param):
    if nonlinearity in ("linear", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param  # a = 0 means slope 0: gain sqrt(2)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))  # std * sqrt(3): U(-a, a)
    with torch.no_grad():  # in place on a Parameter: no autograd history
        return tensor.uniform_(-bound, bound, generator=generator)


def kaiming_normal_(
    tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None
):
    fan_in, fan_out = _fans(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    std = _gain(nonlinearity, a) / math.sqrt(fan)
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)
