# expect: the returned norm is the one after clipping
import torch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)

    def total_norm():
        return torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads]), norm_type
        )

    coef = torch.clamp(max_norm / (total_norm() + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total_norm()  # bug: measured again, after clipping
