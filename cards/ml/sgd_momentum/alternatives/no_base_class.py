# By the card's author (not written independently of the verifier): a plain class, no Optimizer base, own
# param groups, state keyed by parameter, zero_grad and a state_dict in torch's layout.
import copy
from collections import defaultdict

import torch


class SGD:
    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
    ):
        self.defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        params = list(params)
        if params and not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        for group in params:
            g = dict(group)
            ps = g["params"]
            g["params"] = [ps] if isinstance(ps, torch.Tensor) else list(ps)
            for key, value in self.defaults.items():
                g.setdefault(key, value)
            self.param_groups.append(g)
        self.state = defaultdict(dict)

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for g in self.param_groups:
                for p in g["params"]:
                    if p.grad is None:
                        continue
                    d_p = p.grad + g["weight_decay"] * p
                    mu = g["momentum"]
                    if mu:
                        st = self.state[p]
                        if (
                            "momentum_buffer" in st
                            and st["momentum_buffer"] is not None
                        ):
                            st["momentum_buffer"] = (
                                mu * st["momentum_buffer"] + (1 - g["dampening"]) * d_p
                            )
                        else:
                            st["momentum_buffer"] = d_p.clone()
                        b = st["momentum_buffer"]
                        d_p = d_p + mu * b if g["nesterov"] else b
                    p.sub_(g["lr"] * d_p)
        return loss

    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self):
        index = {id(p): i for i, p in enumerate(self._all_params())}
        groups = []
        for g in self.param_groups:
            s = {k: v for k, v in g.items() if k != "params"}
            s["params"] = [index[id(p)] for p in g["params"]]
            groups.append(s)
        state = {index[id(p)]: dict(v) for p, v in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        state_dict = copy.deepcopy(state_dict)
        params = self._all_params()
        self.state = defaultdict(dict)
        for i, st in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {
                k: v.to(device=p.device, dtype=p.dtype) if torch.is_tensor(v) else v
                for k, v in st.items()
            }
        for g, saved in zip(self.param_groups, state_dict["param_groups"]):
            for k, v in saved.items():
                if k != "params":
                    g[k] = v
