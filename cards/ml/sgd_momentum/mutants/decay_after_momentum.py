# expect: weight decay was added after momentum
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
            m, lr = group["momentum"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if m != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()
                    else:
                        state["momentum_buffer"].mul_(m).add_(g, alpha=1 - group["dampening"])
                    buf = state["momentum_buffer"]
                    g = g.add(buf, alpha=m) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)
                p.mul_(1 - lr * group["weight_decay"])  # bug: decoupled decay, after momentum
        return loss
