"""Alternative in AutoGPTQ's style: always computes in float32 (whatever the input dtype), a
quantizer whose grids are all found up front from the original weights (static groups), the
error matrix applied with one matmul per block, and addmm_ for the lazy update."""

import torch


class _Quantizer:
    def __init__(self, bits):
        self.maxq = 2**bits - 1

    def find_params(self, x):
        xmin = x.min(1).values.clamp(max=0)
        xmax = x.max(1).values.clamp(min=0)
        tmp = (xmin == 0) & (xmax == 0)
        xmin[tmp], xmax[tmp] = -1, +1
        self.scale = ((xmax - xmin) / self.maxq).unsqueeze(1)
        self.zero = torch.round(-xmin / self.scale[:, 0]).unsqueeze(1)
        return self

    def quantize(self, x):
        q = torch.clamp(torch.round(x / self.scale) + self.zero, 0, self.maxq)
        return self.scale * (q - self.zero)


def gptq_quantize(
    weight, hessian, bits=4, group_size=-1, damp_percent=0.01, block_size=128
):
    W = weight.detach().clone().float()
    H = hessian.detach().clone().float()
    columns = W.shape[1]
    damp = damp_percent * torch.mean(torch.diag(H))
    diag = torch.arange(columns, device=W.device)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    if group_size == -1:
        quantizers = [_Quantizer(bits).find_params(W)]
        step = columns
    else:
        quantizers = [
            _Quantizer(bits).find_params(W[:, g : g + group_size])
            for g in range(0, columns, group_size)
        ]
        step = group_size
    Q = torch.zeros_like(W)
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            q = quantizers[(i1 + i) // step].quantize(w.unsqueeze(1)).flatten()
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:].addmm_(Err1, Hinv[i1:i2, i2:], alpha=-1)
    return Q.to(weight.dtype)
