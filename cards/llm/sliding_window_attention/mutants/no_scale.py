# expect: the scores are not scaled
import torch


def sliding_window_attention(query, key, value, window):
    N = query.size(-2)
    scores = query @ key.transpose(-2, -1)
    i = torch.arange(N, device=query.device)[:, None]
    j = torch.arange(N, device=query.device)[None, :]
    visible = (j <= i) & (j > i - window)
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores, dim=-1) @ value
