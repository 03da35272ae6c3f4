"""The common "annotated transformer" form: div_term = exp(-log(base) * 2i / d), all in float32."""

import math

import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    position = torch.arange(0, seq_len).unsqueeze(1).float()
    div_term = torch.exp(
        torch.arange(0, d_model, 2).float() * (-math.log(base) / d_model)
    )
    pe = torch.zeros(seq_len, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe
