# expect: uses banned `auto_gptq`
import torch
from auto_gptq.quantization import gptq as G  # bug: not from scratch, AutoGPTQ's GPTQ


def gptq_quantize(
    weight, hessian, bits=4, group_size=-1, damp_percent=0.01, block_size=128
):
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    layer.weight.data = weight.clone()
    g = G.GPTQ(layer)
    g.H = hessian.clone()
    g.quantizer.configure(bits, perchannel=True, sym=False)
    g.fasterquant(blocksize=block_size, percdamp=damp_percent, group_size=group_size)
    return layer.weight.data
