"""Vectorised over each group with torch._foreach_* ops, on torch.optim.Optimizer, with the step
count kept as a 0-dim float tensor (as torch keeps it) and the paper's m_hat / (sqrt(v_hat) + eps)
computed as lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)."""

import torch
from torch.optim import Optimizer


class Adam(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
    ):
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": betas,
                "eps": eps,
                "weight_decay": weight_decay,
                "amsgrad": amsgrad,
            },
        )

    _decoupled = False

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                beta1, beta2 = group["betas"]
                lr, wd = group["lr"], group["weight_decay"]
                for p in params:
                    st = self.state[p]
                    if "step" not in st:
                        st["step"] = torch.tensor(0.0)
                        st["exp_avg"] = torch.zeros_like(p)
                        st["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsgrad"] and "max_exp_avg_sq" not in st:
                        st["max_exp_avg_sq"] = torch.zeros_like(p)
                    st["step"] = torch.as_tensor(st["step"], dtype=torch.float32) + 1
                grads = [p.grad for p in params]
                if wd:
                    if self._decoupled:
                        torch._foreach_mul_(params, 1 - lr * wd)
                    else:
                        grads = torch._foreach_add(grads, params, alpha=wd)
                ms = [self.state[p]["exp_avg"] for p in params]
                vs = [self.state[p]["exp_avg_sq"] for p in params]
                torch._foreach_mul_(ms, beta1)
                torch._foreach_add_(ms, grads, alpha=1 - beta1)
                torch._foreach_mul_(vs, beta2)
                torch._foreach_addcmul_(vs, grads, grads, value=1 - beta2)
                if group["amsgrad"]:
                    maxes = [self.state[p]["max_exp_avg_sq"] for p in params]
                    torch._foreach_maximum_(maxes, vs)
                    vs = maxes
                for p, m, v in zip(params, ms, vs):
                    t = self.state[p]["step"].item()
                    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
                    denom = v.sqrt() / bc2**0.5 + group["eps"]
                    p.addcdiv_(m, denom, value=-lr / bc1)
        return loss


class AdamW(Adam):
    _decoupled = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
