# expect: uses banned `bitsandbytes`
import math

import bitsandbytes.functional as BF  # bug: not from scratch, bitsandbytes' NF4 kernels
import torch
import torch.nn.functional as F
from torch import nn


def nf4_quantize(weight, block_size=64):
    packed, state = BF.quantize_4bit(weight, blocksize=block_size, quant_type="nf4")
    return packed, state.absmax


def nf4_dequantize(codes, absmax, shape, block_size=64):
    return BF.dequantize_4bit(codes, absmax=absmax, blocksize=block_size, quant_type="nf4").view(shape)


class QLoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        codes, absmax = nf4_quantize(base.weight.detach())
        self.register_buffer("codes", codes)
        self.register_buffer("absmax", absmax)
        self.shape = tuple(base.weight.shape)
        self.register_buffer("bias", None if base.bias is None else base.bias.detach().clone())
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scaling = alpha / r

    def forward(self, x):
        w = nf4_dequantize(self.codes, self.absmax, self.shape)
        return F.linear(x, w, self.bias) + x @ self.lora_A.T @ self.lora_B.T * self.scaling
