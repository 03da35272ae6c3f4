# expect: bias correction is missing
import math

import torch
from torch.optim import Optimizer


class Adam(Optimizer):
    decoupled = False  # Adam: L2 added to the gradient; AdamW: p shrunk before the step

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
    ):
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:  # read at every step: an edited lr applies
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, wd = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:  # skipped entirely: its step count does not move
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1  # per parameter, not per optimiser
                t = float(state["step"])  # torch's own state dict stores a tensor
                if wd != 0:
                    if self.decoupled:
                        p.mul_(
                            1 - lr * wd
                        )  # AdamW: decay the previous p, apart from Adam
                    else:
                        g = g.add(p, alpha=wd)  # Adam: L2 in the gradient
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if group["amsgrad"]:
                    # The max is kept over the raw v; the bias correction comes after.
                    torch.maximum(
                        state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"]
                    )
                    v = state["max_exp_avg_sq"]
                bias1 = bias2 = 1.0  # bug: no bias correction, tiny first steps
                # eps is added after the square root of the bias-corrected v.
                denom = (v.sqrt() / math.sqrt(bias2)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / bias1)
        return loss


class AdamW(Adam):
    decoupled = True

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
