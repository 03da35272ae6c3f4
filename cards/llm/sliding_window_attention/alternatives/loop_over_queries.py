# One query at a time: slice exactly the keys in its window, no mask at all.
import math

import torch


def sliding_window_attention(query, key, value, window):
    N, D = query.shape[-2], query.shape[-1]
    rows = []
    for i in range(N):
        lo = max(0, i - window + 1)
        k = key[..., lo : i + 1, :]  # (B, H, w, D)
        v = value[..., lo : i + 1, :]
        s = (query[..., i : i + 1, :] @ k.transpose(-2, -1)) / math.sqrt(D)
        rows.append(torch.softmax(s, dim=-1) @ v)  # (B, H, 1, Dv)
    return torch.cat(rows, dim=-2)
