# expect: scaled by 1/D, not 1/sqrt(D)
import torch


def sliding_window_attention(query, key, value, window):
    N, D = query.size(-2), query.size(-1)
    scores = query @ key.transpose(-2, -1) / D
    i = torch.arange(N, device=query.device)[:, None]
    j = torch.arange(N, device=query.device)[None, :]
    visible = (j <= i) & (j > i - window)
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores, dim=-1) @ value
