# expect: each index uses its own exponent
import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    j = torch.arange(d_model, dtype=torch.float32)
    angles = pos / base ** (j / d_model)  # bug: index 2i+1 gets its own exponent (2i+1)/d, not the pair's 2i/d
    even = (torch.arange(d_model) % 2 == 0)
    return torch.where(even, torch.sin(angles), torch.cos(angles))
