"""Float64 angles, sin and cos stacked on a new last axis and flattened into (sin, cos) pairs."""

import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    i = torch.arange(d_model // 2, dtype=torch.float64)
    freq = torch.pow(torch.tensor(base, dtype=torch.float64), -2.0 * i / d_model)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), freq)
    pe = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(seq_len, d_model)
    return pe.float()
