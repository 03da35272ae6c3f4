# expect: the attention is not causal
import math

import torch


def sliding_window_attention(query, key, value, window):
    N, D = query.size(-2), query.size(-1)
    scores = query @ key.transpose(-2, -1) / math.sqrt(D)
    pos = torch.arange(N, device=query.device)
    visible = (pos[:, None] - pos[None, :]).abs() < window  # a band both ways
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores, dim=-1) @ value
