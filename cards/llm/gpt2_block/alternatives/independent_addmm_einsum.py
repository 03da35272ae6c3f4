# Written independently of this card's verifier, from the contract alone.
# GPT-2 block written without transformers: Conv1D-style projections as a small module with
# weight (in, out) and bias applied with torch.addmm on the flattened tokens; attention with einsum,
# a float32 softmax, the causal part as a masked_fill with the dtype's most negative value and an
# optional additive mask added on top; activations from a hand-written table keyed by
# config.activation_function (gelu_new by default). Dropouts: attn_pdrop on the attention weights,
# resid_pdrop after the attention projection and after the MLP.
import math

import torch
from torch import nn


def _gelu_tanh(x):
    return (
        0.5
        * x
        * (
            1.0
            + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))
        )
    )


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


_ACT = {
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": lambda x: (
        0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))
    ),
    "gelu": _gelu_erf,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": torch.relu,
    "silu": lambda x: x * torch.sigmoid(x),
    "swish": lambda x: x * torch.sigmoid(x),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
}


class _Proj(nn.Module):
    """y = x @ W + b with W stored as (in, out), like GPT-2's Conv1D."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        return torch.addmm(self.bias, flat, self.weight).reshape(*x.shape[:-1], -1)


class _LN(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        xf = x.float()
        mu = xf.mean(-1, keepdim=True)
        var = (xf - mu).pow(2).mean(-1, keepdim=True)
        y = (xf - mu) * torch.rsqrt(
            var + self.eps
        ) * self.weight.float() + self.bias.float()
        return y.to(x.dtype)


class _Attn(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        E = config.hidden_size
        self.n_head = config.num_attention_heads
        self.head_dim = E // self.n_head
        self.c_attn = _Proj(E, 3 * E)
        self.c_proj = _Proj(E, E)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)
        self.scale = (
            self.head_dim**-0.5 if getattr(config, "scale_attn_weights", True) else 1.0
        )
        if (
            getattr(config, "scale_attn_by_inverse_layer_idx", False)
            and layer_idx is not None
        ):
            self.scale /= float(layer_idx + 1)

    def forward(self, x, attention_mask=None):
        B, T, E = x.shape
        q, k, v = self.c_attn(x).split(E, dim=-1)
        q, k, v = (t.reshape(B, T, self.n_head, self.head_dim) for t in (q, k, v))
        s = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) * self.scale
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        s = s.masked_fill(future, torch.finfo(s.dtype).min)
        if attention_mask is not None:
            s = s + attention_mask.float()
        w = torch.softmax(s, dim=-1).to(v.dtype)
        w = self.attn_dropout(w)
        y = torch.einsum("bhqk,bkhd->bqhd", w, v).reshape(B, T, E)
        return self.resid_dropout(self.c_proj(y))


class _MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        E = config.hidden_size
        inner = config.n_inner if config.n_inner is not None else 4 * E
        self.c_fc = _Proj(E, inner)
        self.c_proj = _Proj(inner, E)
        self.act = _ACT[config.activation_function]
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, config, layer_idx=None):
        super().__init__()
        E = config.hidden_size
        self.ln_1 = _LN(E, config.layer_norm_epsilon)
        self.attn = _Attn(config, layer_idx)
        self.ln_2 = _LN(E, config.layer_norm_epsilon)
        self.mlp = _MLP(config)

    def forward(self, hidden_states, attention_mask=None):
        h = hidden_states + self.attn(self.ln_1(hidden_states), attention_mask)
        return h + self.mlp(self.ln_2(h))
