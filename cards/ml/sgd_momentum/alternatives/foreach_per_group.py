"""Vectorised over each group with torch._foreach_* ops, on torch.optim.Optimizer: decay,
buffers and the update for all parameters of a group at once."""

import torch
from torch.optim import Optimizer


class SGD(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
    ):
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": nesterov,
            },
        )

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
                grads = [p.grad for p in params]
                if group["weight_decay"]:
                    grads = torch._foreach_add(
                        grads, params, alpha=group["weight_decay"]
                    )
                m = group["momentum"]
                if m:
                    new = [p for p in params if "momentum_buffer" not in self.state[p]]
                    old = [p for p in params if "momentum_buffer" in self.state[p]]
                    by_param = dict(zip(map(id, params), grads))
                    for p in new:
                        self.state[p]["momentum_buffer"] = by_param[id(p)].clone()
                    if old:
                        bufs = [self.state[p]["momentum_buffer"] for p in old]
                        torch._foreach_mul_(bufs, m)
                        torch._foreach_add_(
                            bufs,
                            [by_param[id(p)] for p in old],
                            alpha=1 - group["dampening"],
                        )
                    bufs = [self.state[p]["momentum_buffer"] for p in params]
                    if group["nesterov"]:
                        grads = torch._foreach_add(grads, bufs, alpha=m)
                    else:
                        grads = bufs
                torch._foreach_add_(params, grads, alpha=-group["lr"])
        return loss
