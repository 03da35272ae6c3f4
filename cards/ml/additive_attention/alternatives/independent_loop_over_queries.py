# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
from torch import nn


class AdditiveAttention(nn.Module):
    """Bahdanau attention; a 3-D query is handled one query step at a time."""

    def __init__(self, query_dim, key_dim, hidden_dim):
        super().__init__()
        self.Wa = nn.Linear(query_dim, hidden_dim)
        self.Ua = nn.Linear(key_dim, hidden_dim)
        self.Va = nn.Linear(hidden_dim, 1)

    def _one(self, q, uk, keys, mask):
        # q: (B, Dq), uk: (B, Lk, H), keys: (B, Lk, Dk)
        e = self.Va(torch.tanh(self.Wa(q).unsqueeze(1) + uk)).squeeze(-1)  # (B, Lk)
        if mask is not None:
            e = e.masked_fill(~mask, float("-inf"))
        # explicit stable softmax
        m = e.amax(dim=-1, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        ex = torch.exp(e - m)
        w = ex / ex.sum(dim=-1, keepdim=True)
        ctx = torch.bmm(w.unsqueeze(1), keys).squeeze(1)  # (B, Dk)
        return ctx, w

    def forward(self, query, keys, mask=None):
        if mask is not None:
            mask = mask.to(torch.bool)
        uk = self.Ua(keys)
        if query.dim() == 2:
            return self._one(query, uk, keys, mask)
        ctxs, ws = [], []
        for j in range(query.shape[1]):
            c, w = self._one(query[:, j], uk, keys, mask)
            ctxs.append(c)
            ws.append(w)
        return torch.stack(ctxs, 1), torch.stack(ws, 1)
