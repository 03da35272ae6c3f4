# By the card's author (not written independently of the verifier): plain classes, no Optimizer base;
# per-parameter state with torch's key names, zero_grad and a torch-layout state_dict by hand;
# the update written with m_hat and v_hat spelled out.
import copy
from collections import defaultdict

import torch


class Adam:
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
        self.defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
        }
        items = list(params)
        if items and not isinstance(items[0], dict):
            items = [{"params": items}]
        self.param_groups = []
        for it in items:
            grp = {**self.defaults, **it}
            ps = grp["params"]
            grp["params"] = [ps] if torch.is_tensor(ps) else list(ps)
            self.param_groups.append(grp)
        self.state = defaultdict(dict)

    def zero_grad(self, set_to_none=True):
        for grp in self.param_groups:
            for p in grp["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.detach_().zero_()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for grp in self.param_groups:
                b1, b2 = grp["betas"]
                lr, eps, wd = grp["lr"], grp["eps"], grp["weight_decay"]
                for p in grp["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = 0
                        st["exp_avg"] = torch.zeros_like(p)
                        st["exp_avg_sq"] = torch.zeros_like(p)
                        if grp["amsgrad"]:
                            st["max_exp_avg_sq"] = torch.zeros_like(p)
                    st["step"] = int(st["step"]) + 1
                    t = st["step"]
                    grad = p.grad
                    if self._decoupled:
                        p.copy_(p * (1.0 - lr * wd))
                    elif wd:
                        grad = grad + wd * p
                    st["exp_avg"] = b1 * st["exp_avg"] + (1.0 - b1) * grad
                    st["exp_avg_sq"] = (
                        b2 * st["exp_avg_sq"] + (1.0 - b2) * grad.square()
                    )
                    second = st["exp_avg_sq"]
                    if grp["amsgrad"]:
                        st["max_exp_avg_sq"] = torch.maximum(
                            st["max_exp_avg_sq"], second
                        )
                        second = st["max_exp_avg_sq"]
                    m_hat = st["exp_avg"] / (1.0 - b1**t)
                    v_hat = second / (1.0 - b2**t)
                    p.copy_(p - lr * m_hat / (v_hat.sqrt() + eps))
        return loss

    def _flat(self):
        return [p for grp in self.param_groups for p in grp["params"]]

    def state_dict(self):
        ids = {id(p): n for n, p in enumerate(self._flat())}
        groups = [
            {
                **{k: v for k, v in grp.items() if k != "params"},
                "params": [ids[id(p)] for p in grp["params"]],
            }
            for grp in self.param_groups
        ]
        state = {ids[id(p)]: dict(s) for p, s in self.state.items() if id(p) in ids}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        sd = copy.deepcopy(state_dict)
        flat = self._flat()
        self.state = defaultdict(dict)
        for n, s in sd["state"].items():
            p = flat[int(n)]
            self.state[p] = {
                k: (int(v) if k == "step" else v.to(p.device, p.dtype))
                for k, v in s.items()
            }
        for grp, saved in zip(self.param_groups, sd["param_groups"]):
            grp.update({k: v for k, v in saved.items() if k != "params"})


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
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
