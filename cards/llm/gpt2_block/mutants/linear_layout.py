# expect: stored (out, in) like nn.Linear's
import math

import torch
from torch import nn


class _Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        E = config.n_embd
        self.n_head = config.n_head
        self.c_attn = nn.Linear(E, 3 * E)  # weight (3E, E): the transpose of GPT-2's
        self.c_proj = nn.Linear(E, E)
        self.drop = nn.Dropout(config.attn_pdrop)
        self.resid_drop = nn.Dropout(config.resid_pdrop)

    def forward(self, x, attention_mask=None):
        B, T, E = x.shape
        q, k, v = self.c_attn(x).split(E, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        if attention_mask is not None:
            s = s + attention_mask
        o = (self.drop(s.softmax(-1)) @ v).transpose(1, 2).reshape(B, T, E)
        return self.resid_drop(self.c_proj(o))


class _MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, inner)
        self.c_proj = nn.Linear(inner, config.n_embd)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return self.dropout(self.c_proj(nn.functional.gelu(self.c_fc(x), approximate="tanh")))


class GPT2Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = _Attention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = _MLP(config)

    def forward(self, hidden_states, attention_mask=None):
        h = hidden_states + self.attn(self.ln_1(hidden_states), attention_mask)
        return h + self.mlp(self.ln_2(h))
