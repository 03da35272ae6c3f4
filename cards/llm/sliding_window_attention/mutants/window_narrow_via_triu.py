# expect: the window is one key too narrow
import math

import torch


def sliding_window_attention(query, key, value, window):
    N, D = query.size(-2), query.size(-1)
    scores = query @ key.transpose(-2, -1) / math.sqrt(D)
    ones = torch.ones(N, N, dtype=torch.bool, device=query.device)
    # tril keeps j <= i; triu(-(window - 1)) should keep j >= i - window + 1 but is off by one
    visible = ones.tril() & ones.triu(-(window - 2))
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores, dim=-1) @ value
