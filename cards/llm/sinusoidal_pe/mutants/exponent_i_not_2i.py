# expect: the exponent is i/d
import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float32)
    inv_freq = 1.0 / (base ** (i / d_model))  # bug: base^(i/d) instead of base^(2i/d)
    angles = pos * inv_freq
    pe = torch.empty(seq_len, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe
