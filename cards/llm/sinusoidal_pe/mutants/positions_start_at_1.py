# expect: positions start at 1
import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    pos = torch.arange(1, seq_len + 1, dtype=torch.float32)[:, None]  # bug: positions 1..T, not 0..T-1
    inv_freq = 1.0 / (base ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model))
    angles = pos * inv_freq
    pe = torch.empty(seq_len, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe
