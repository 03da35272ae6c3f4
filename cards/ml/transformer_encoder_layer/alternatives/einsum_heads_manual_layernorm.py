"""Heads through einsum on a (B, L, h, hd) layout, masks merged into one additive bias first,
a hand-written softmax and LayerNorm (weights as plain parameters named as torch's)."""

import torch
from torch import nn


class _Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) * torch.rsqrt(var + 1e-5) * self.weight + self.bias


class _Attn(nn.Module):
    def __init__(self, d, h, p):
        super().__init__()
        self.h, self.p = h, p
        self.in_proj_weight = nn.Parameter(torch.randn(3 * d, d) / d**0.5)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, bias):
        B, L, d = x.shape
        hd = d // self.h
        w_q, w_k, w_v = self.in_proj_weight.split(d)
        b_q, b_k, b_v = self.in_proj_bias.split(d)
        q = (x @ w_q.t() + b_q).view(B, L, self.h, hd)
        k = (x @ w_k.t() + b_k).view(B, L, self.h, hd)
        v = (x @ w_v.t() + b_v).view(B, L, self.h, hd)
        s = torch.einsum("bqhe,bkhe->bhqk", q, k) * hd**-0.5 + bias
        s = s - s.amax(-1, keepdim=True)
        a = s.exp()
        a = a / a.sum(-1, keepdim=True)
        a = nn.functional.dropout(a, self.p, self.training)
        o = torch.einsum("bhqk,bkhe->bqhe", a, v).reshape(B, L, d)
        return self.out_proj(o)


def _as_bias(mask, dtype):
    if mask is None:
        return 0.0
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf")
        )
    return mask.to(dtype)


class TransformerEncoderLayer(nn.Module):
    def __init__(
        self,
        d_model,
        nhead,
        dim_feedforward,
        dropout=0.0,
        norm_first=False,
        batch_first=True,
    ):
        super().__init__()
        self.norm_first, self.batch_first, self.p = norm_first, batch_first, dropout
        self.self_attn = _Attn(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = _Norm(d_model)
        self.norm2 = _Norm(d_model)

    def _drop(self, x):
        return nn.functional.dropout(x, self.p, self.training)

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src if self.batch_first else src.permute(1, 0, 2)
        bias = _as_bias(src_mask, x.dtype)
        if src_key_padding_mask is not None:
            bias = bias + _as_bias(src_key_padding_mask, x.dtype)[:, None, None, :]
        sa = lambda y: self._drop(self.self_attn(y, bias))
        ff = lambda y: self._drop(self.linear2(self._drop(torch.relu(self.linear1(y)))))
        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + ff(self.norm2(x))
        else:
            x = self.norm1(x + sa(x))
            x = self.norm2(x + ff(x))
        return x if self.batch_first else x.permute(1, 0, 2)
