# expect: the mask is inverted
import torch
from torch import nn


class AdditiveAttention(nn.Module):
    def __init__(self, query_dim, key_dim, hidden_dim):
        super().__init__()
        self.Wa = nn.Linear(query_dim, hidden_dim)
        self.Ua = nn.Linear(key_dim, hidden_dim)
        self.Va = nn.Linear(hidden_dim, 1)

    def forward(self, query, keys, mask=None):
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query  # (B, Lq, Dq)
        # broadcast (B, Lq, 1, H) + (B, 1, Lk, H): every query against every key
        hidden = torch.tanh(self.Wa(q).unsqueeze(2) + self.Ua(keys).unsqueeze(1))
        scores = self.Va(hidden).squeeze(-1)  # (B, Lq, Lk)
        if mask is not None:
            # True marks a real key; -inf gives padded keys a weight of exactly 0
            scores = scores.masked_fill(mask.bool().unsqueeze(1), float("-inf"))  # bug: True taken as padding
        weights = torch.softmax(scores, dim=-1)  # over the keys, the last dim
        context = weights @ keys  # (B, Lq, Dk)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights
