# expect: where two calls differ: dropout must be off
import math

import torch
import torch.nn.functional as F
from torch import nn


class _SelfAttention(nn.Module):
    """The parameters of nn.MultiheadAttention: one packed in_proj (q, k, v rows) and out_proj."""

    def __init__(self, d_model, nhead, dropout):
        super().__init__()
        self.nhead, self.dropout = nhead, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        bound = math.sqrt(6 / (4 * d_model))  # xavier uniform of a (3E, E) matrix
        nn.init.uniform_(self.in_proj_weight, -bound, bound)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, attn_mask=None, key_padding_mask=None):
        B, L, E = x.shape
        h, hd = self.nhead, E // self.nhead
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        # (B, L, E) -> (B, h, L, hd): view the heads, then move them before the positions
        q, k, v = (t.view(B, L, h, hd).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # scaled by the head dim
        # torch's conventions: a True bool entry is masked out, a float mask is added
        for mask in (
            attn_mask,
            None if key_padding_mask is None else key_padding_mask[:, None, None, :],
        ):
            if mask is None:
                continue
            if mask.dtype == torch.bool:
                scores = scores.masked_fill(mask, float("-inf"))
            else:
                scores = scores + mask
        weights = F.dropout(torch.softmax(scores, dim=-1), self.dropout)  # bug: F.dropout's training defaults to True
        out = (weights @ v).transpose(1, 2).reshape(B, L, E)
        return self.out_proj(out)


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
        self.norm_first, self.batch_first = norm_first, batch_first
        # names as nn.TransformerEncoderLayer, so its state dict loads with strict=True
        self.self_attn = _SelfAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout = nn.Dropout(dropout)  # inside the feed-forward block
        self.dropout1 = nn.Dropout(dropout)  # on the attention branch
        self.dropout2 = nn.Dropout(dropout)  # on the feed-forward branch

    def _sa(self, x, src_mask, src_key_padding_mask):
        return self.dropout1(self.self_attn(x, src_mask, src_key_padding_mask))

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(torch.relu(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src if self.batch_first else src.transpose(0, 1)  # (B, L, E) inside
        if self.norm_first:  # pre-norm: x + f(norm(x))
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self._ff(self.norm2(x))
        else:  # post-norm: norm(x + f(x))
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self._ff(x))
        return x if self.batch_first else x.transpose(0, 1)
