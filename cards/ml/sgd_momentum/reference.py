"""SGD with momentum, dampening, weight decay and Nesterov, as torch.optim.SGD, on top of
torch.optim.Optimizer (which brings param groups, state, zero_grad and state_dict)."""

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
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:  # read at every step: an edited lr applies
            lr, momentum = group["lr"], group["momentum"]
            dampening, wd = group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:  # skipped entirely: no decay, no momentum, no state
                    continue
                g = p.grad
                if wd != 0:
                    g = g.add(p, alpha=wd)  # out of place: the caller's .grad is kept
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # The first buffer is the gradient itself (a copy, never an alias
                        # of .grad, which zero_grad(set_to_none=False) zeroes in place).
                        buf = g.clone().detach()
                        state["momentum_buffer"] = buf
                    else:
                        buf.mul_(momentum).add_(g, alpha=1 - dampening)
                    g = g.add(buf, alpha=momentum) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)  # lr outside the buffer, read from the group now
        return loss
