# Written independently of this card's verifier, from the contract alone.
# NF4 with codes packed two per byte (uint8: even element in the low nibble, odd in the high one),
# the nearest code found by torch.bucketize against the midpoints of QLoRA's 16-value table, one
# float32 absmax per block of `block_size` consecutive elements of the flattened weight (the last
# block zero-padded). QLoRALinear stores only the packed codes, the absmax and the bias as buffers
# (no full-precision copy of the weight), dequantises on the fly, and adds a LoRA path as in the
# lora card (lora_A Kaiming-uniform, lora_B zeros, scaling alpha / r).
import math

import torch
import torch.nn.functional as F
from torch import nn

NF4 = torch.tensor(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171638489,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ]
)


def nf4_quantize(weight, block_size=64):
    flat = weight.detach().reshape(-1).float()
    n = flat.numel()
    nblocks = (n + block_size - 1) // block_size
    padded = F.pad(flat, (0, nblocks * block_size - n)).view(nblocks, block_size)
    absmax = padded.abs().amax(dim=1)
    safe = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    normed = (padded / safe[:, None]).reshape(-1)
    table = NF4.to(flat.device)
    mids = (table[1:] + table[:-1]) / 2
    idx = torch.bucketize(normed, mids).to(torch.uint8)  # 0..15
    if idx.numel() % 2:
        idx = torch.cat([idx, idx.new_zeros(1)])
    pairs = idx.view(-1, 2)
    packed = pairs[:, 0] | (pairs[:, 1] << 4)
    return packed, absmax


def nf4_dequantize(codes, absmax, shape, block_size=64):
    n = math.prod(shape)
    lo = codes & 0x0F
    hi = codes >> 4
    idx = torch.stack([lo, hi], dim=1).reshape(-1).long()
    table = NF4.to(absmax.device)
    vals = (
        table[idx][: absmax.numel() * block_size].view(-1, block_size)
        * absmax[:, None].float()
    )
    return vals.reshape(-1)[:n].reshape(shape)


class QLoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, alpha=16, block_size=64):
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.block_size = block_size
        codes, absmax = nf4_quantize(base.weight.data, block_size)
        self.register_buffer("codes", codes)
        self.register_buffer("absmax", absmax)
        if base.bias is not None:
            self.register_buffer("bias", base.bias.detach().clone())
        else:
            self.bias = None
        self.scaling = alpha / r
        dev = base.weight.device
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, device=dev))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, device=dev))

    def forward(self, x):
        w = nf4_dequantize(
            self.codes,
            self.absmax,
            (self.out_features, self.in_features),
            self.block_size,
        )
        w = w.to(x.dtype)
        b = self.bias.to(x.dtype) if self.bias is not None else None
        y = F.linear(x, w, b)
        lora = F.linear(F.linear(x, self.lora_A.to(x.dtype)), self.lora_B.to(x.dtype))
        return y + lora * self.scaling
