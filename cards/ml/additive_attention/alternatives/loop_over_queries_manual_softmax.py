"""One query step at a time (as a decoder runs it), a hand-written softmax with the max
subtracted, and the mask applied with torch.where."""

import torch
from torch import nn


class AdditiveAttention(nn.Module):
    def __init__(self, query_dim, key_dim, hidden_dim):
        super().__init__()
        self.Wa = nn.Linear(query_dim, hidden_dim)
        self.Ua = nn.Linear(key_dim, hidden_dim)
        # a bias shifts every score equally
        self.Va = nn.Linear(hidden_dim, 1, bias=False)

    def _step(self, q, uk, keys, mask):
        # q (B, Dq), uk (B, Lk, H)
        e = self.Va(torch.tanh(uk + self.Wa(q)[:, None, :]))[..., 0]  # (B, Lk)
        if mask is not None:
            e = torch.where(mask, e, torch.full_like(e, float("-inf")))
        e = e - e.max(dim=-1, keepdim=True).values
        p = torch.exp(e)
        a = p / p.sum(dim=-1, keepdim=True)
        return torch.bmm(a[:, None, :], keys)[:, 0], a

    def forward(self, query, keys, mask=None):
        uk = self.Ua(keys)  # once for every query
        if query.dim() == 2:
            return self._step(query, uk, keys, mask)
        outs = [self._step(query[:, i], uk, keys, mask) for i in range(query.shape[1])]
        return torch.stack([c for c, _ in outs], 1), torch.stack(
            [a for _, a in outs], 1
        )
