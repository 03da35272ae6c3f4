# Written independently of this card's verifier, from the contract alone.
# Llama from scratch, Hugging Face parameter names. Differences from the textbook version:
#   - RoPE through complex numbers: the half-split pairs (x_i, x_{i + d/2}) form x_i + 1j * x_{i+d/2},
#     multiplied by exp(1j * pos * inv_freq) (the same as HF's rotate_half form);
#   - grouped-query attention without repeating K/V: queries are viewed as (B, kv_heads, group, T, d)
#     and broadcast against (B, kv_heads, 1, S, d);
#   - generate() keeps a per-layer KV cache: one prefill, then one token per step.
# forward(input_ids, attention_mask) uses positions 0..T-1 and adds finfo.min where a key is padding
# or in the future (as HF's eager attention does).
import math

import torch
from torch import nn


class _RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class _Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads or cfg.num_attention_heads
        self.head_dim = (
            getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        )
        b = bool(getattr(cfg, "attention_bias", False))
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.head_dim, bias=b)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.head_dim, bias=b)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.head_dim, bias=b)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, cfg.hidden_size, bias=b)

    @staticmethod
    def _rope(x, rot):
        # x (B, h, T, d); rot (T, d/2) complex
        half = x.shape[-1] // 2
        xf = x.float()
        z = torch.complex(xf[..., :half], xf[..., half:]) * rot
        return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)

    def forward(self, x, rot, bias, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = self._rope(q, rot), self._rope(k, rot)
        if cache is not None:
            if cache.get("k") is not None:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        S = k.shape[2]
        g = self.n_heads // self.n_kv
        qg = q.view(B, self.n_kv, g, T, self.head_dim)
        s = torch.einsum("bkgtd,bksd->bkgts", qg, k) / math.sqrt(self.head_dim)
        s = s + bias.view(bias.shape[0], 1, 1, T, S)
        p = torch.softmax(s.float(), dim=-1).to(v.dtype)
        o = torch.einsum("bkgts,bksd->bkgtd", p, v).reshape(
            B, self.n_heads, T, self.head_dim
        )
        return self.o_proj(
            o.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        )


class _MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        b = bool(getattr(cfg, "mlp_bias", False))
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=b)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=b)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=b)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))


class _Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = _Attention(cfg)
        self.mlp = _MLP(cfg)
        self.input_layernorm = _RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = _RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, rot, bias, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), rot, bias, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class _Body(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = _RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class Llama(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = _Body(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if getattr(config, "tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight
        rp = getattr(config, "rope_parameters", None) or {}
        theta = rp.get("rope_theta", getattr(config, "rope_theta", 10000.0))
        d = (
            self.model.layers[0].self_attn.head_dim
            if config.num_hidden_layers
            else config.hidden_size // config.num_attention_heads
        )
        self.register_buffer(
            "inv_freq",
            1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d),
            persistent=False,
        )

    def _rot(self, start, T, device):
        pos = torch.arange(start, start + T, device=device, dtype=torch.float32)
        ang = pos[:, None] * self.inv_freq.to(device)[None, :]
        return torch.polar(torch.ones_like(ang), ang)

    def _run(self, input_ids, attention_mask, caches, start):
        B, T = input_ids.shape
        dev = input_ids.device
        x = self.model.embed_tokens(input_ids)
        S = start + T
        qpos = torch.arange(start, S, device=dev)[:, None]
        kpos = torch.arange(S, device=dev)[None, :]
        allowed = (kpos <= qpos)[None].expand(B, T, S)
        if attention_mask is not None:
            allowed = allowed & attention_mask[:, None, :S].bool()
        bias = torch.zeros(B, T, S, dtype=torch.float32, device=dev).masked_fill(
            ~allowed, torch.finfo(torch.float32).min
        )
        rot = self._rot(start, T, dev)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, rot, bias, None if caches is None else caches[i])
        return self.lm_head(self.model.norm(x))

    def forward(self, input_ids, attention_mask=None):
        return self._run(input_ids, attention_mask, None, 0)

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens):
        caches = [{} for _ in self.model.layers]
        seq = input_ids
        if max_new_tokens <= 0:
            return seq
        logits = self._run(seq, None, caches, 0)
        for step in range(max_new_tokens):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
            if step + 1 < max_new_tokens:
                logits = self._run(nxt, None, caches, seq.shape[1] - 1)
        return seq
