"""A GPT-2 block (Radford et al., 2019, "Language Models are Unsupervised Multitask Learners",
section 2.3: GPT's decoder block with the LayerNorm moved to each sub-block's input), laid out
like transformers' GPT2Block so that its state dict loads as is.

Left out: the KV cache, cross-attention, layer-index scaling and reorder-and-upcast options.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu": F.gelu,
    "relu": F.relu,
    "silu": F.silu,
}


class _Conv1D(nn.Module):
    """GPT-2's projection: a linear layer whose weight is stored (in, out)."""

    def __init__(self, nx, nf):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return x @ self.weight + self.bias  # not x @ weight.T: the layout is (in, out)


class _Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = _Conv1D(config.n_embd, 3 * config.n_embd)
        self.c_proj = _Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x, attention_mask=None):
        B, T, E = x.shape
        q, k, v = self.c_attn(x).split(E, dim=-1)  # q, k, v in that order
        # (B, T, E) -> (B, n_head, T, head_dim): split the features, then move heads forward
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        scores = scores.masked_fill(future, torch.finfo(scores.dtype).min)
        if attention_mask is not None:
            scores = scores + attention_mask  # additive, on top of the causal mask
        weights = self.attn_dropout(torch.softmax(scores, dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(B, T, E)
        return self.resid_dropout(self.c_proj(out))


class _MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.c_fc = _Conv1D(config.n_embd, inner)
        self.c_proj = _Conv1D(inner, config.n_embd)
        self.act = ACTIVATIONS[config.activation_function]
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        E, eps = config.n_embd, config.layer_norm_epsilon
        self.ln_1 = nn.LayerNorm(E, eps=eps)
        self.attn = _Attention(config)
        self.ln_2 = nn.LayerNorm(E, eps=eps)
        self.mlp = _MLP(config)

    def forward(self, hidden_states, attention_mask=None):
        # Pre-LN: normalise each sub-block's input, add its output to the untouched residual.
        h = hidden_states + self.attn(self.ln_1(hidden_states), attention_mask)
        return h + self.mlp(self.ln_2(h))
