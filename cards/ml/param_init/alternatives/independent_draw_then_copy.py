# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch


def _fans(tensor):
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= int(s)
    fan_in = int(tensor.shape[1]) * receptive
    fan_out = int(tensor.shape[0]) * receptive
    return fan_in, fan_out


def _gain(nonlinearity, param=None):
    linear_fns = {
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    }
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _draw_device(generator, tensor):
    # draw where the generator lives; copy_ then moves the values to the tensor
    return torch.device(generator.device) if generator is not None else tensor.device


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Draw U[0, 1) from the generator into a fresh buffer, map it affinely to
    [-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), and copy it in."""
    fan_in, fan_out = _fans(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out)) if fan_in + fan_out > 0 else 0.0
    with torch.no_grad():
        u = torch.rand(
            tensor.shape,
            generator=generator,
            dtype=tensor.dtype,
            device=_draw_device(generator, tensor),
        )
        tensor.copy_(u * (2.0 * a) - a)
    return tensor


def kaiming_normal_(
    tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None
):
    """Draw N(0, 1) from the generator, scale by gain / sqrt(fan), copy in."""
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(
            f"Mode {mode} not supported, please use one of fan_in, fan_out"
        )
    fan_in, fan_out = _fans(tensor)
    if 0 in tensor.shape:
        return tensor
    fan = fan_in if mode == "fan_in" else fan_out
    std = _gain(nonlinearity, a) / math.sqrt(fan)
    with torch.no_grad():
        z = torch.randn(
            tensor.shape,
            generator=generator,
            dtype=tensor.dtype,
            device=_draw_device(generator, tensor),
        )
        tensor.copy_(z * std)
    return tensor
