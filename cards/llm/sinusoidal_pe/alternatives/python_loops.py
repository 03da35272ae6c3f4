"""Straight from the paper with Python loops and the math module (slow but correct)."""

import math

import torch


def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0):
    rows = []
    for pos in range(seq_len):
        row = []
        for i in range(0, d_model, 2):
            angle = pos / (base ** (i / d_model))
            row += [math.sin(angle), math.cos(angle)]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(seq_len, d_model)
