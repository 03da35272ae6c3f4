# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch
import torch.nn.functional as F
from torch import nn


class _SelfAttention(nn.Module):
    """Holds parameters under torch's self_attn names (in_proj_*, out_proj); the math is einsum."""

    def __init__(self, d_model, nhead, dropout):
        super().__init__()
        if d_model % nhead != 0:
            raise ValueError("d_model must be divisible by nhead")
        self.d_model = d_model
        self.nhead = nhead
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    @staticmethod
    def _as_additive(mask, dtype):
        if mask is None:
            return None
        if mask.dtype == torch.bool:
            return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
                mask, float("-inf")
            )
        return mask.to(dtype)

    def forward(self, x, attn_mask=None, key_padding_mask=None):
        # x: (B, L, E)
        B, L, E = x.shape
        h = self.nhead
        dh = E // h
        qkv = torch.einsum("ble,fe->blf", x, self.in_proj_weight) + self.in_proj_bias
        q, k, v = qkv.view(B, L, 3, h, dh).unbind(dim=2)  # (B, L, h, dh) each
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
        am = self._as_additive(attn_mask, scores.dtype)
        if am is not None:
            if am.dim() == 2:
                scores = scores + am
            else:  # (B*h, L, L)
                scores = scores + am.view(B, h, L, L)
        kpm = self._as_additive(key_padding_mask, scores.dtype)
        if kpm is not None:
            scores = scores + kpm[:, None, None, :]
        w = torch.softmax(scores, dim=-1)
        w = F.dropout(w, self.dropout, self.training)
        ctx = torch.einsum("bhqk,bkhd->bqhd", w, v).reshape(B, L, E)
        return self.out_proj(ctx)


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
        self.self_attn = _SelfAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.p = dropout
        self.norm_first = norm_first
        self.batch_first = batch_first

    def _sa(self, x, m, kpm):
        return F.dropout(self.self_attn(x, m, kpm), self.p, self.training)

    def _ff(self, x):
        y = F.dropout(torch.relu(self.linear1(x)), self.p, self.training)
        return F.dropout(self.linear2(y), self.p, self.training)

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src if self.batch_first else src.transpose(0, 1)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self._ff(self.norm2(x))
        else:
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self._ff(x))
        return x if self.batch_first else x.transpose(0, 1)
