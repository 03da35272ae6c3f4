"""Gradient clipping by the global norm, as torch.nn.utils.clip_grad_norm_."""

import torch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    # a generator is read once
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return torch.tensor(0.0)
    # One norm over all gradients together (never one per parameter): combine the
    # per-tensor norms as a vector, which is exact for every p, inf included.
    norms = [torch.linalg.vector_norm(g.detach(), norm_type) for g in grads]
    total = torch.linalg.vector_norm(
        torch.stack([n.to(grads[0].device) for n in norms]), norm_type
    )
    # Never scale up: the coefficient is capped at 1; 1e-6 keeps a zero norm finite.
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.detach().mul_(coef.to(g.device, g.dtype))  # in place, the same .grad tensors
    return total  # the norm before clipping
