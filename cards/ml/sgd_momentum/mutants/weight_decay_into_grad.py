# expect: .grad in place
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
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            mom = group["momentum"]
            damp = group["dampening"]
            wd = group["weight_decay"]
            nest = group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if wd != 0:
                    g = g.add_(p, alpha=wd)
                if mom != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = torch.clone(g).detach()
                        state["momentum_buffer"] = buf
                    else:
                        buf.mul_(mom).add_(g, alpha=1 - damp)
                    if nest:
                        g = g.add(buf, alpha=mom)
                    else:
                        g = buf
                p.add_(g, alpha=-lr)
        return loss
