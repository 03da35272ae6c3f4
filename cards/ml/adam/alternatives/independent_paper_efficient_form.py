# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch
from torch.optim import Optimizer


class Adam(Optimizer):
    """Adam using the paper's 'efficient' ordering: a bias-corrected step size
    alpha_t = lr * sqrt(1 - b2^t) / (1 - b1^t) and an eps rescaled by sqrt(1 - b2^t),
    which is algebraically the same as eps added after sqrt(v_hat)."""

    _decoupled = False

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
    ):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameters: {betas}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
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

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr, eps, wd, ams = (
                group["lr"],
                group["eps"],
                group["weight_decay"],
                group["amsgrad"],
            )
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = torch.tensor(0.0, dtype=torch.float32)
                    st["exp_avg"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                    st["exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                    if ams:
                        st["max_exp_avg_sq"] = torch.zeros_like(
                            p, memory_format=torch.preserve_format
                        )
                st["step"] += 1
                t = float(st["step"])
                if wd != 0:
                    if self._decoupled:
                        p.mul_(1.0 - lr * wd)
                    else:
                        g = g + wd * p
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                if ams:
                    torch.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
                    v_used = st["max_exp_avg_sq"]
                else:
                    v_used = v
                bc1 = 1.0 - b1**t
                sqrt_bc2 = math.sqrt(1.0 - b2**t)
                alpha_t = lr * sqrt_bc2 / bc1
                eps_hat = eps * sqrt_bc2
                p.addcdiv_(m, v_used.sqrt().add_(eps_hat), value=-alpha_t)
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
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
        )
