# Written from the contract alone, by a writer who had not read this card's verifier.
import copy
from collections import defaultdict

import torch


class SGD:
    """SGD with momentum / Nesterov written without subclassing torch.optim.Optimizer:
    it keeps its own param_groups, per-parameter state and (de)serialisation."""

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
    ):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, torch.Tensor):
            params = [params]
        params = list(params)
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for g in params:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        group = dict(param_group)
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, torch.Tensor) else list(ps)
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            mu = group["momentum"]
            damp = group["dampening"]
            wd = group["weight_decay"]
            nesterov = group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if wd != 0:
                    d_p = d_p + wd * p
                if mu != 0:
                    st = self.state[p]
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = d_p.detach().clone()
                        st["momentum_buffer"] = buf
                    else:
                        buf.mul_(mu).add_(d_p, alpha=1 - damp)
                    d_p = d_p + mu * buf if nesterov else buf
                p.add_(d_p, alpha=-lr)
        return loss

    def _index(self):
        idx, i = {}, 0
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) not in idx:
                    idx[id(p)] = i
                    i += 1
        return idx

    def state_dict(self):
        idx = self._index()
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = [idx[id(p)] for p in group["params"]]
            groups.append(g)
        state = {idx[id(p)]: v for p, v in self.state.items() if id(p) in idx}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        sd = copy.deepcopy(state_dict)
        saved = sd["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups"
            )
        for g, s in zip(self.param_groups, saved):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
                )
        id_map = {}
        for g, s in zip(self.param_groups, saved):
            for p, i in zip(g["params"], s["params"]):
                id_map[i] = p
        new_state = defaultdict(dict)
        for k, v in sd["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            new_state[p] = {
                name: (
                    t.to(device=p.device, dtype=p.dtype)
                    if isinstance(t, torch.Tensor)
                    else t
                )
                for name, t in v.items()
            }
        new_groups = []
        for g, s in zip(self.param_groups, saved):
            ng = dict(s)
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self):
        return f"SGD({self.defaults})"
