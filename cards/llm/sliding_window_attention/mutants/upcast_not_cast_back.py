# expect: dtype expected torch.float16, got torch.float32
import math

import torch


def sliding_window_attention(query, key, value, window):
    q, k, v = query.float(), key.float(), value.float()
    N, D = q.size(-2), q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    i = torch.arange(N, device=q.device)[:, None]
    j = torch.arange(N, device=q.device)[None, :]
    scores = scores.masked_fill(~((j <= i) & (j > i - window)), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
