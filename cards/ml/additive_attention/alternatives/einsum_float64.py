# Written from the prompt by the card's author.
# Explicit weights via einsum in float64, masked with the dtype's minimum then zeroed exactly.
import torch
from torch import nn


class AdditiveAttention(nn.Module):
    def __init__(self, query_dim, key_dim, hidden_dim):
        super().__init__()
        self.Wa = nn.Linear(query_dim, hidden_dim)
        self.Ua = nn.Linear(key_dim, hidden_dim)
        self.Va = nn.Linear(hidden_dim, 1)

    def forward(self, query, keys, mask=None):
        squeeze = query.ndim == 2
        if squeeze:
            query = query[:, None, :]
        wq = (
            torch.einsum("bqd,hd->bqh", query.double(), self.Wa.weight.double())
            + self.Wa.bias.double()
        )
        uk = (
            torch.einsum("bkd,hd->bkh", keys.double(), self.Ua.weight.double())
            + self.Ua.bias.double()
        )
        t = torch.tanh(wq[:, :, None, :] + uk[:, None, :, :])
        s = (
            torch.einsum("bqkh,h->bqk", t, self.Va.weight[0].double())
            + self.Va.bias.double()
        )
        if mask is not None:
            keep = mask[:, None, :].expand_as(s)
            s = s.masked_fill(~keep, torch.finfo(s.dtype).min)
        s = s - s.amax(-1, keepdim=True)
        p = s.exp()
        if mask is not None:
            p = p * keep
        w = p / p.sum(-1, keepdim=True)
        ctx = torch.einsum("bqk,bkd->bqd", w, keys.double())
        w, ctx = w.to(query.dtype), ctx.to(query.dtype)
        if squeeze:
            return ctx[:, 0], w[:, 0]
        return ctx, w
