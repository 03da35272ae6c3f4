# Written from the prompt by the card's author.
# One head at a time in a Python loop, torch.where for bool masks, nn.LayerNorm for the norms.
import math

import torch
from torch import nn


class SelfAttn(nn.Module):
    def __init__(self, d_model, nhead, dropout):
        super().__init__()
        self.nhead = nhead
        self.drop = nn.Dropout(dropout)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, attn_mask, kpm):
        D = x.shape[-1]
        hd = D // self.nhead
        qkv = torch.matmul(x, self.in_proj_weight.t()) + self.in_proj_bias
        q, k, v = qkv[..., :D], qkv[..., D : 2 * D], qkv[..., 2 * D :]
        heads = []
        for i in range(self.nhead):
            sl = slice(i * hd, (i + 1) * hd)
            # (B, L, L)
            s = torch.bmm(q[..., sl], k[..., sl].transpose(1, 2)) / math.sqrt(hd)
            if attn_mask is not None:
                if attn_mask.dtype == torch.bool:
                    s = torch.where(
                        attn_mask.unsqueeze(0), torch.full_like(s, -math.inf), s
                    )
                else:
                    s = s + attn_mask
            if kpm is not None:
                if kpm.dtype == torch.bool:
                    s = torch.where(kpm.unsqueeze(1), torch.full_like(s, -math.inf), s)
                else:
                    s = s + kpm.unsqueeze(1)
            a = self.drop(torch.softmax(s, dim=-1))
            heads.append(torch.bmm(a, v[..., sl]))
        return self.out_proj(torch.cat(heads, dim=-1))


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
        self.norm_first = norm_first
        self.batch_first = batch_first
        self.self_attn = SelfAttn(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src if self.batch_first else src.transpose(0, 1)

        def sa(y):
            return self.dropout1(self.self_attn(y, src_mask, src_key_padding_mask))

        def ff(y):
            return self.dropout2(
                self.linear2(self.dropout(torch.relu(self.linear1(y))))
            )

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + ff(self.norm2(x))
        else:
            x = self.norm1(x + sa(x))
            x = self.norm2(x + ff(x))
        if not self.batch_first:
            x = x.transpose(0, 1)
        return x
