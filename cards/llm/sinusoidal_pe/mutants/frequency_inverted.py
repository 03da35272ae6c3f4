# expect: the frequency is inverted
import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    freq = base ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    angles = pos * freq  # bug: pos * base^(2i/d) instead of pos / base^(2i/d)
    pe = torch.empty(seq_len, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe
