# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Global-norm clipping with the norm written out by hand: (sum |g|^p)^(1/p), or max |g| for inf."""
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    p_ = float(norm_type)
    if len(grads) == 0:
        return torch.tensor(0.0)
    device = grads[0].device
    out_dtype = grads[0].dtype
    acc_dtype = torch.promote_types(out_dtype, torch.float32)
    if math.isinf(p_):
        total = torch.stack(
            [
                g.detach().abs().max().to(device=device, dtype=acc_dtype)
                if g.numel()
                else torch.zeros((), dtype=acc_dtype, device=device)
                for g in grads
            ]
        ).max()
    else:
        # per-tensor norms first (so huge tensors do not overflow the power sum), then combine them
        per = []
        for g in grads:
            a = g.detach().to(acc_dtype).abs()
            if p_ == 0:
                per.append((a != 0).sum().to(acc_dtype))
                continue
            scale = (
                a.max()
                if a.numel()
                else torch.zeros((), dtype=acc_dtype, device=a.device)
            )
            safe = torch.where(scale > 0, scale, torch.ones_like(scale))
            per.append((safe * ((a / safe) ** p_).sum() ** (1.0 / p_)).to(device))
        per = torch.stack(per)
        if p_ == 0:
            total = per.sum()
        else:
            s = per.max()
            s_safe = torch.where(s > 0, s, torch.ones_like(s))
            total = s_safe * ((per / s_safe) ** p_).sum() ** (1.0 / p_)
    total = total.to(out_dtype)
    coef = torch.clamp(max_norm / (total.to(acc_dtype) + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.to(device=g.device, dtype=g.dtype))
    return total
