# expect: lr was folded into the momentum buffer
import torch
from torch.optim import Optimizer


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
            lr, m = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"])
                if m == 0:
                    p.add_(g, alpha=-lr)
                    continue
                state = self.state[p]
                # bug: the Sutskever form, v = m*v + lr*g; p -= v (lr baked into the buffer)
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = lr * g
                else:
                    state["momentum_buffer"].mul_(m).add_(g, alpha=lr * (1 - group["dampening"]))
                buf = state["momentum_buffer"]
                p.sub_(lr * g + m * buf if group["nesterov"] else buf)
        return loss
