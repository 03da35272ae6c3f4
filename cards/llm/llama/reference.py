"""Llama (Touvron et al., 2023) as a causal language model, written from scratch with the module
names of Hugging Face's LlamaForCausalLM so that its weights load as they are: RMSNorm
pre-normalisation, rotary position embeddings (the rotate-half pairing), grouped-query attention
and a SwiGLU MLP, with an untied LM head.

Left out: a KV cache (generate recomputes the whole sequence each step), rope scaling,
attention/_MLP biases, dropout, sampling.
"""

import torch
import torch.nn.functional as F
from torch import nn


class _RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class _Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = (
            getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        )
        hidden = config.hidden_size
        self.q_proj = nn.Linear(hidden, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        # GQA: query head h reads KV head h // group, so each KV head is repeated in place.
        group = self.n_heads // self.n_kv
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-2, -1)) / self.head_dim**0.5  # (B, H, T, T)
        # A large finite negative, not -inf: a left-padded query sees no key at all, and a NaN
        # there would leak into real tokens through 0 * NaN in the next layer.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        att = scores.float().softmax(dim=-1).to(q.dtype)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(y)


class _MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden, inner = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _DecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.input_layernorm = _RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = _Attention(config)
        self.post_attention_layernorm = _RMSNorm(
            config.hidden_size, config.rms_norm_eps
        )
        self.mlp = _MLP(config)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class _Backbone(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            _DecoderLayer(config) for _ in range(config.num_hidden_layers)
        )
        self.norm = _RMSNorm(config.hidden_size, config.rms_norm_eps)


class Llama(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        # "model." prefix, as in LlamaForCausalLM's state dict
        self.model = _Backbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        head_dim = self.model.layers[0].self_attn.head_dim
        theta = config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / theta ** (
            torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
        )
        # Not persistent: the state dict keeps exactly LlamaForCausalLM's keys.
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids, attention_mask=None):
        _, T = input_ids.shape
        x = self.model.embed_tokens(input_ids)
        # Positions 0..T-1 whatever the padding (HF's forward without position_ids).
        angles = (
            torch.arange(T, device=x.device, dtype=torch.float32)[:, None]
            * self.inv_freq
        )
        angles = torch.cat([angles, angles], dim=-1)  # (T, head_dim): frequency j twice
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()[None, None]
        if attention_mask is not None:  # padded keys are hidden from every query
            mask = mask & attention_mask.bool()[:, None, None, :]
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x))

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens):
        ids = input_ids
        for _ in range(max_new_tokens):
            next_id = self(ids)[:, -1].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, next_id], dim=1)
        return ids
