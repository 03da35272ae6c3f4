"""Sinusoidal positional encoding (Vaswani et al., 2017, "Attention Is All You Need", sec. 3.5).

A fixed (seq_len, d_model) table added to the token embeddings. Left out: adding it to the
embeddings, dropout, and caching the table as a module buffer.
"""

import torch


def sinusoidal_positional_encoding(
    seq_len: int, d_model: int, base: float = 10000.0
) -> torch.Tensor:
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)  # (d/2,) = 0, 2, 4, ...
    inv_freq = 1.0 / (base ** (two_i / d_model))  # (d/2,)
    angles = pos * inv_freq  # (T, d/2)
    pe = torch.empty(seq_len, d_model, dtype=torch.float32)
    # The subtlety: interleave. Sin at even indices and cos at odd ones, and each pair (2i, 2i+1)
    # shares the frequency of 2i; not [sin | cos] halves, not a separate exponent for 2i+1.
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe
