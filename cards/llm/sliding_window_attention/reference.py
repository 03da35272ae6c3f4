"""Sliding-window (local causal) attention, as in Longformer (Beltagy et al., 2020) and Mistral 7B
(Jiang et al., 2023): softmax(Q K^T / sqrt(D) + mask) V where query i sees keys i - window + 1 .. i.

Left out: the rolling KV cache and the block-sparse kernels that make it cheaper than full
attention; this computes the (N, N) scores and masks them.
"""

import math

import torch


def sliding_window_attention(query, key, value, window):
    N, D = query.size(-2), query.size(-1)
    scores = (query @ key.transpose(-2, -1)) / math.sqrt(D)  # (B, H, N, N)
    i = torch.arange(N, device=query.device)[:, None]  # query positions
    j = torch.arange(N, device=query.device)[None, :]  # key positions
    # The trick is in the two bounds: never the future (j <= i), and exactly `window` keys back
    # (j > i - window, strict, so key i - window is already out).
    visible = (j <= i) & (j > i - window)
    scores = scores.masked_fill(~visible, float("-inf"))  # every row keeps key i itself
    return torch.softmax(scores, dim=-1) @ value
