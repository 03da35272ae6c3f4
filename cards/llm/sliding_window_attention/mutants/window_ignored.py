# expect: the window is ignored
import math

import torch


def sliding_window_attention(query, key, value, window):
    N, D = query.size(-2), query.size(-1)
    scores = query @ key.transpose(-2, -1) / math.sqrt(D)
    causal = torch.ones(N, N, dtype=torch.bool, device=query.device).tril()
    scores = scores.masked_fill(~causal, float("-inf"))  # the causal half only
    return torch.softmax(scores, dim=-1) @ value
