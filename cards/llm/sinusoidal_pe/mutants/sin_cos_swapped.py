# expect: sin and cos are swapped
import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    inv_freq = 1.0 / (base ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model))
    angles = pos * inv_freq
    pe = torch.empty(seq_len, d_model)
    pe[:, 0::2] = torch.cos(angles)  # bug: cos at even indices, sin at odd ones
    pe[:, 1::2] = torch.sin(angles)
    return pe
