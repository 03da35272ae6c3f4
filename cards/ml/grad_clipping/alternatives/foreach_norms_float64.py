"""Per-tensor norms with torch._foreach_norm, combined in float64 (a generator is materialised
first), and the factor applied with torch._foreach_mul_; the total returned in the gradients'
dtype."""

import torch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack(torch._foreach_norm(grads, float(norm_type))).double()
    if norm_type == float("inf"):
        total = norms.max()
    else:
        total = norms.pow(norm_type).sum().pow(1.0 / norm_type)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, coef.to(grads[0].dtype).item())
    return total.to(grads[0].dtype)
