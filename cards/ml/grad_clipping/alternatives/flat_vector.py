# By the card's author (not written independently of the verifier): all grads in one vector, the norm
# written out by hand (max |g| for inf, (sum |g|^p)^(1/p) otherwise), the factor as a float.
import math

import torch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if torch.is_tensor(parameters):
        parameters = [parameters]
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return torch.zeros(())
    flat = torch.cat([g.detach().reshape(-1) for g in grads])
    p = float(norm_type)
    if math.isinf(p):
        total = flat.abs().max()
    else:
        total = flat.abs().pow(p).sum().pow(1.0 / p)
    factor = float(max_norm) / (float(total) + 1e-6)
    if factor < 1.0:
        for g in grads:
            g.mul_(factor)
    return total
