"""RoPE with complex numbers on the (x[j], x[j + d/2]) pairs, GQA by grouping the queries as
(B, kv_heads, group, T, d) against unrepeated keys, einsum attention, -1e9 masking in float32,
float32 norms kept in float32 until the weight, generate by full recomputation."""

import torch
from torch import nn
from transformers import LlamaConfig  # allowed: the config, for the type hint


class _RMS(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        x32 = x.to(torch.float32)
        y = x32 / x32.pow(2).mean(-1, keepdim=True).add(self.eps).sqrt()
        return self.weight * y.to(x.dtype)


class _Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.nkv = c.num_attention_heads, c.num_key_value_heads
        self.hd = getattr(c, "head_dim", None) or c.hidden_size // self.nh
        self.q_proj = nn.Linear(c.hidden_size, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, c.hidden_size, bias=False)

    def forward(self, x, rot, allowed):
        B, T, _ = x.shape
        g = self.nh // self.nkv
        q = self.q_proj(x).view(B, T, self.nkv, g, self.hd).permute(0, 2, 3, 1, 4)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = _rotate(q, rot), _rotate(k, rot)
        s = torch.einsum("bkgtd,bksd->bkgts", q, k) / self.hd**0.5
        s = s.float().masked_fill(~allowed[:, None], -1e9)
        p = s.softmax(-1).to(v.dtype)
        y = torch.einsum("bkgts,bksd->bkgtd", p, v)  # (B, kv, g, T, d)
        y = y.permute(0, 3, 1, 2, 4).reshape(B, T, self.nh * self.hd)
        return self.o_proj(y)


def _rotate(x, rot):
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half].float(), x[..., half:].float()) * rot
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)


class _MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        gate = self.gate_proj(x)
        return self.down_proj(gate * torch.sigmoid(gate) * self.up_proj(x))


class _Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = _RMS(c.hidden_size, c.rms_norm_eps)
        self.self_attn = _Attn(c)
        self.post_attention_layernorm = _RMS(c.hidden_size, c.rms_norm_eps)
        self.mlp = _MLP(c)


class _Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(_Block(c) for _ in range(c.num_hidden_layers))
        self.norm = _RMS(c.hidden_size, c.rms_norm_eps)


class Llama(nn.Module):
    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.model = _Decoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.base = config.rope_parameters["rope_theta"]
        self.hd = self.model.layers[0].self_attn.hd

    def forward(self, input_ids, attention_mask=None):
        B, T = input_ids.shape
        dev = input_ids.device
        j = torch.arange(0, self.hd, 2, device=dev, dtype=torch.float64) / self.hd
        ang = torch.arange(T, device=dev, dtype=torch.float64)[:, None] / self.base**j
        rot = torch.polar(torch.ones_like(ang), ang).to(torch.complex64)  # (T, hd/2)
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool, device=dev)).expand(
            B, 1, T, T
        )
        if attention_mask is not None:
            allowed = allowed & (attention_mask[:, None, None, :] != 0)
        h = self.model.embed_tokens(input_ids)
        for blk in self.model.layers:
            h = h + blk.self_attn(blk.input_layernorm(h), rot, allowed)
            h = h + blk.mlp(blk.post_attention_layernorm(h))
        return self.lm_head(self.model.norm(h))

    def generate(self, input_ids, max_new_tokens):
        seq = input_ids
        with torch.no_grad():
            for _ in range(max_new_tokens):
                seq = torch.cat([seq, self.forward(seq)[:, -1:].argmax(-1)], dim=-1)
        return seq
