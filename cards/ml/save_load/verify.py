"""Verifier for save_checkpoint / load_checkpoint: a small model with BatchNorm buffers and an
optimiser with state and two param groups (one lr edited mid-run) is trained a few steps, saved,
loaded into a fresh model and optimiser (other weights, default hyperparameters, another
train/eval mode), then compared: the whole model state dict (buffers included), the optimiser
state dict (param groups included), the epoch (an int), the mode (untouched), and the next steps
of training against uninterrupted training."""

import copy

import pytest
import torch
from torch import nn

from cards.checks import assert_close, call, generator


def _model(seed, device):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)
    )
    return model.to(device=device, dtype=torch.float64)


class TinyAdam:
    """A small Adam with torch.optim's public interface and state-dict layout (param_groups,
    state keyed by parameter, state_dict() / load_state_dict() with parameters as indices).
    The verifier's own, so that a grading run does not pay for the import of torch._dynamo that
    every torch.optim optimiser triggers; the attempt only uses that public interface."""

    def __init__(self, groups, lr, betas=(0.9, 0.999), eps=1e-8, momentum_only=False):
        self.defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "momentum_only": momentum_only,
        }
        self.param_groups = [
            {**self.defaults, **g, "params": list(g["params"])} for g in groups
        ]
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state.setdefault(p, {})
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float64)
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                st["exp_avg"].mul_(b1).add_(p.grad, alpha=1 - b1)
                if group["momentum_only"]:
                    p.sub_(group["lr"] * st["exp_avg"])
                    continue
                st["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                t = float(st["step"])
                m = st["exp_avg"] / (1 - b1**t)
                v = st["exp_avg_sq"] / (1 - b2**t)
                p.sub_(group["lr"] * m / (v.sqrt() + group["eps"]))

    def state_dict(self):
        ids, groups, start = {}, [], 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            ids.update({id(p): i for i, p in enumerate(group["params"], start)})
            start += len(group["params"])
            groups.append(packed)
        state = {ids[id(p)]: dict(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        state_dict = copy.deepcopy(state_dict)
        params = [p for g in self.param_groups for p in g["params"]]
        assert len(state_dict["param_groups"]) == len(self.param_groups)
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {
                k: v.to(p.device) if k != "step" else v for k, v in s.items()
            }


def _optimizer(kind, model, lr_scale=1.0):
    groups = [
        {"params": [p for n, p in model.named_parameters() if n.endswith("weight")]},
        {
            "params": [p for n, p in model.named_parameters() if n.endswith("bias")],
            "lr": 0.02 * lr_scale,
        },
    ]
    if kind == "adam":
        return TinyAdam(groups, lr=0.01 * lr_scale)
    return TinyAdam(groups, lr=0.05 * lr_scale, betas=(0.9, 0.0), momentum_only=True)


def _batch(step, device):
    g = generator(1000 + step)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=g)
    return x.to(device), y.to(device)


def _train(model, opt, steps, start, device):
    model.train()
    for step in range(start, start + steps):
        x, y = _batch(step, device)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _trained(kind, device):
    model = _model(0, device)
    opt = _optimizer(kind, model)
    _train(model, opt, 3, 0, device)
    opt.param_groups[0]["lr"] *= 0.3  # an lr changed mid-run must come back
    _train(model, opt, 2, 3, device)
    return model, opt


def _fresh(kind, device):
    model = _model(99, device)
    return model, _optimizer(kind, model, lr_scale=7.0)


def _compare_model(got, want):
    want_sd, got_sd = want.state_dict(), got.state_dict()
    for key, value in want_sd.items():
        g = got_sd[key]
        buffer = key.rsplit(".", 1)[-1] in (
            "running_mean",
            "running_var",
            "num_batches_tracked",
        )
        if not torch.equal(g.cpu(), value.cpu()):
            why = (
                f"buffer `{key}` was not restored: buffers (BatchNorm's running statistics) "
                "are part of model.state_dict(); save and load the whole state dict, not only "
                "the parameters"
                if buffer
                else f"parameter `{key}` was not restored into the model passed in (load "
                "into it in place with model.load_state_dict; rebinding a local name "
                "changes nothing for the caller)"
            )
            raise AssertionError(f"after load_checkpoint: {why}")


def _compare_optimizer(got, want):
    want_sd, got_sd = want.state_dict(), got.state_dict()
    for i, (wg, gg) in enumerate(zip(want_sd["param_groups"], got_sd["param_groups"])):
        for key in ("lr", "betas", "eps"):
            if key in wg and wg[key] != gg.get(key):
                raise AssertionError(
                    f"after load_checkpoint: the optimiser's param group {i} has {key}="
                    f"{gg.get(key)}, the saved one had {wg[key]}: restore the optimiser's "
                    "whole state dict (optimizer.load_state_dict), param groups included"
                )
    assert set(got_sd["state"]) == set(want_sd["state"]), (
        "after load_checkpoint: the optimiser's per-parameter state (momentum buffers, Adam "
        f"moments) was not restored: it holds state for {len(got_sd['state'])} parameters, "
        f"the saved one for {len(want_sd['state'])}; save optimizer.state_dict() and load it "
        "with optimizer.load_state_dict"
    )
    for pid, state in want_sd["state"].items():
        for key, value in state.items():
            g = got_sd["state"][pid].get(key)
            same = (
                isinstance(g, torch.Tensor) and torch.equal(g.cpu(), value.cpu())
                if isinstance(value, torch.Tensor)
                else g == value
            )
            assert same, (
                f"after load_checkpoint: the optimiser state `{key}` of parameter {pid} "
                "differs from the saved one"
            )


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_restores_everything(impl, device, tmp_path, kind, mode):
    model, opt = _trained(kind, device)
    model.train(mode == "train")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = str(tmp_path / "checkpoint.pt")
    call(impl.save_checkpoint, path, model, opt, 7)
    assert model.training == (mode == "train"), (
        "save_checkpoint changed the model's train/eval mode: leave it alone"
    )
    for k, v in model.state_dict().items():
        # on a GPU, model.cpu() / model.to("cpu") before saving moves the caller's model
        assert v.device == before[k].device, (
            f"save_checkpoint moved the model to {v.device.type} (`{k}` was on "
            f"{before[k].device.type}): leave the caller's model where it is (copy the "
            "tensors to the CPU to save them, never model.cpu() or model.to())"
        )
        assert torch.equal(v, before[k]), f"save_checkpoint modified the model (`{k}`)"
    fresh, fresh_opt = _fresh(kind, device)
    fresh.train(mode != "train")  # the mode of the model loaded into must stay as it is
    epoch = call(impl.load_checkpoint, path, fresh, fresh_opt)
    assert type(epoch) is int, (
        f"load_checkpoint must return the saved epoch as an int, got {type(epoch).__name__}"
        f" ({epoch!r})"
    )
    assert epoch == 7, f"load_checkpoint returned epoch {epoch}, the saved one was 7"
    assert fresh.training == (mode != "train"), (
        "load_checkpoint changed the model's train/eval mode: it must leave it as it was "
        f"({'train' if mode != 'train' else 'eval'}), as model.load_state_dict does"
    )
    _compare_model(fresh, model)
    _compare_optimizer(fresh_opt, opt)
    for p in fresh.parameters():
        assert p.device.type == device, (
            f"after load_checkpoint a parameter is on {p.device.type}, expected {device}"
        )


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_resumed_training_follows_the_same_trajectory(impl, device, tmp_path, kind):
    model, opt = _trained(kind, device)
    path = str(tmp_path / "ckpt.pt")
    call(impl.save_checkpoint, path, model, opt, 0)
    fresh, fresh_opt = _fresh(kind, device)
    epoch = call(impl.load_checkpoint, path, fresh, fresh_opt)
    assert type(epoch) is int and epoch == 0, (
        f"load_checkpoint must return the saved epoch 0 as an int, got {epoch!r}"
    )
    _train(model, opt, 4, 5, device)
    _train(fresh, fresh_opt, 4, 5, device)
    for (name, want), got in zip(
        model.state_dict().items(), fresh.state_dict().values()
    ):
        if want.is_floating_point():
            assert_close(
                got,
                want,
                what=f"`{name}` after 4 more steps",
                context="resumed training vs uninterrupted training",
            )
        else:
            assert torch.equal(got, want), f"`{name}` after 4 more steps differs"


def test_checkpoint_is_a_file_loaded_twice(impl, device, tmp_path):
    # the file, not some global, carries the state: two checkpoints, loaded in reverse order
    model, opt = _trained("adam", device)
    first = str(tmp_path / "a.pt")
    call(impl.save_checkpoint, first, model, opt, 2)
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    _train(model, opt, 2, 5, device)
    second = str(tmp_path / "b.pt")
    call(impl.save_checkpoint, second, model, opt, 4)
    fresh, fresh_opt = _fresh("adam", device)
    epoch = call(impl.load_checkpoint, second, fresh, fresh_opt)
    assert epoch == 4, f"load_checkpoint returned epoch {epoch!r}, the saved one was 4"
    _compare_model(fresh, model)
    epoch = call(impl.load_checkpoint, first, fresh, fresh_opt)
    assert epoch == 2, f"load_checkpoint returned epoch {epoch!r}, the saved one was 2"
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, snapshot[k]), (
            f"loading the first checkpoint did not bring back `{k}` as saved then"
        )
