# Everything by hand: LayerNorm from mean/var, einsum attention with torch.where on a position
# comparison, the tanh-GELU formula written out, F.dropout with the module's training flag.
import math

import torch
import torch.nn.functional as F
from torch import nn


class Norm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = (x - mu).pow(2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


class Conv1D(nn.Module):
    def __init__(self, nx, nf):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(
            *x.shape[:-1], -1
        )


def act_fn(name, x):
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return (
            0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        )
    if name == "gelu":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if name == "relu":
        return x.clamp_min(0)
    if name == "silu":
        return x * torch.sigmoid(x)
    raise ValueError(name)


class Attn(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.c_attn = Conv1D(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = Conv1D(cfg.n_embd, cfg.n_embd)

    def forward(self, x, mask):
        cfg = self.cfg
        B, T, E = x.shape
        H = cfg.n_head
        q, k, v = self.c_attn(x).reshape(B, T, 3, H, E // H).unbind(2)  # (B, T, H, hd)
        s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(E // H)
        i = torch.arange(T, device=x.device)
        s = torch.where(i[None, :] <= i[:, None], s, torch.finfo(s.dtype).min)
        if mask is not None:
            s = s + mask
        w = F.dropout(torch.softmax(s, -1), cfg.attn_pdrop, self.training)
        o = torch.einsum("bhqk,bkhd->bqhd", w, v).reshape(B, T, E)
        return F.dropout(self.c_proj(o), cfg.resid_pdrop, self.training)


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        inner = 4 * cfg.n_embd if cfg.n_inner is None else cfg.n_inner
        self.c_fc = Conv1D(cfg.n_embd, inner)
        self.c_proj = Conv1D(inner, cfg.n_embd)

    def forward(self, x):
        y = self.c_proj(act_fn(self.cfg.activation_function, self.c_fc(x)))
        return F.dropout(y, self.cfg.resid_pdrop, self.training)


class GPT2Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = Norm(config.n_embd, config.layer_norm_epsilon)
        self.attn = Attn(config)
        self.ln_2 = Norm(config.n_embd, config.layer_norm_epsilon)
        self.mlp = Mlp(config)

    def forward(self, hidden_states, attention_mask=None):
        h = hidden_states + self.attn(self.ln_1(hidden_states), attention_mask)
        return h + self.mlp(self.ln_2(h))
