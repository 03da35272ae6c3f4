# expect: uses banned `torch.optim._functional`
import torch
from torch.optim import Optimizer
import torch.optim._functional as ops


class SGD(Optimizer):
    def __init__(
        self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False
    ):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            ps = [p for p in group["params"] if p.grad is not None]
            bufs = [self.state[p].get("momentum_buffer") for p in ps]
            # bug: not from scratch, torch's own functional SGD does the update
            ops.sgd(
                ps, [p.grad for p in ps], bufs, weight_decay=group["weight_decay"],
                momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
                nesterov=group["nesterov"], maximize=False,
            )
            for p, b in zip(ps, bufs):
                if group["momentum"] != 0:
                    self.state[p]["momentum_buffer"] = b
        return loss
