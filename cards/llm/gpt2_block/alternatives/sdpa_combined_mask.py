# F.scaled_dot_product_attention with one float mask (causal -inf + the caller's mask) and
# dropout_p inside it; projections as parameters held by small modules, F.linear on weight.T.
import torch
import torch.nn.functional as F
from torch import nn


class Proj(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return F.linear(x, self.weight.t(), self.bias)


class SelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads, self.p = cfg.n_head, cfg.attn_pdrop
        self.c_attn = Proj(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = Proj(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x, mask):
        B, T, E = x.shape
        qkv = self.c_attn(x).view(B, T, 3, self.heads, E // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, hd)
        causal = torch.full((T, T), float("-inf"), dtype=x.dtype, device=x.device).triu(
            1
        )
        bias = causal if mask is None else causal + mask
        o = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.p if self.training else 0.0
        )
        return self.resid_dropout(self.c_proj(o.transpose(1, 2).reshape(B, T, E)))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden = cfg.n_inner or 4 * cfg.n_embd
        self.c_fc = Proj(cfg.n_embd, hidden)
        self.c_proj = Proj(hidden, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.resid_pdrop)
        name = cfg.activation_function
        if name in ("gelu_new", "gelu_pytorch_tanh"):
            self.act = nn.GELU(approximate="tanh")
        else:
            self.act = {"gelu": nn.GELU(), "relu": nn.ReLU(), "silu": nn.SiLU()}[name]

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = FeedForward(config)

    def forward(self, hidden_states, attention_mask=None):
        x = hidden_states + self.attn(self.ln_1(hidden_states), attention_mask)
        x = x + self.mlp(self.ln_2(x))
        return x
