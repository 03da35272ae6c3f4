# expect: each parameter was clipped by its own norm
import torch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = []
    for g in grads:
        n = torch.linalg.vector_norm(g, norm_type)
        g.mul_(torch.clamp(max_norm / (n + 1e-6), max=1.0))  # bug: one factor per parameter
        norms.append(n)
    return torch.linalg.vector_norm(torch.stack(norms), norm_type)
