# expect: uses banned `torch.nn.functional.multi_head_attention_forward`
import torch
from torch import nn
from torch.nn import functional as G


class _SelfAttention(nn.Module):
    def __init__(self, d_model, nhead, dropout):
        super().__init__()
        self.nhead, self.dropout = nhead, dropout
        self.in_proj_weight = nn.Parameter(torch.randn(3 * d_model, d_model) * d_model**-0.5)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, attn_mask=None, key_padding_mask=None):
        x = x.transpose(0, 1)
        E = x.shape[-1]
        # bug: not from scratch, torch's multi-head attention under an alias
        out, _ = G.multi_head_attention_forward(
            x, x, x, E, self.nhead, self.in_proj_weight, self.in_proj_bias, None, None, False,
            self.dropout, self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=False, attn_mask=attn_mask,
        )
        return out.transpose(0, 1)


class TransformerEncoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False, batch_first=True):
        super().__init__()
        self.norm_first, self.batch_first = norm_first, batch_first
        self.self_attn = _SelfAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src if self.batch_first else src.transpose(0, 1)
        ff = lambda y: self.linear2(torch.relu(self.linear1(y)))  # noqa: E731
        if self.norm_first:
            x = x + self.self_attn(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + ff(self.norm2(x))
        else:
            x = self.norm1(x + self.self_attn(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + ff(x))
        return x if self.batch_first else x.transpose(0, 1)
