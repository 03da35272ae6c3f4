"""Verifier for grad_cam: against the Grad-CAM formulas computed in float64 on the CPU (a forward
hook on the target layer, torch.autograd.grad of the chosen raw logits), on a small CNN with a
fully connected head (so the gradients vary across the map), for an int, a (B,) tensor and None
as class_idx, for a convolution and a ReLU as the target layer, in train and in eval mode; then
every module's hooks and train/eval flags are inspected.

On a failed comparison the message names the classic mistake the values match: the softmax
probability's gradient instead of the logit's, no ReLU (or abs), summed instead of averaged
gradients, gradient x activation without spatial pooling, weights averaged over the batch, the map
normalised to its max, class_idx ignored (the argmax used)."""

import copy

import pytest
import torch
from torch import nn

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
)

NUM_CLASSES = 6
TOL = {"atol": 1e-5, "rtol": 1e-4}


@pytest.fixture(autouse=True)
def _full_float32_on_cuda():
    """cuDNN convolutions default to TF32 on recent GPUs (about 3 significant digits): the model
    here must run in full float32 for the comparison with float64; restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Dropout(
                0.0
            ),  # behaves the same in both modes; train() / eval() still flip it
            nn.Conv2d(4, 5, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(5 * 5 * 4, NUM_CLASSES))

    def forward(self, x):
        return self.head(self.features(x))


def _base_model():
    model = SmallCNN()
    g = generator(1234)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.6 if p.dim() > 1 else 0.2))
    return model


BASE = _base_model()
LAYERS = {"conv": "features.3", "relu": "features.4"}  # (B, 5, 5, 4) activations


def _hook_counts(model):
    counts = []
    for name, m in model.named_modules():
        for attr in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
        ):
            counts.append((name or "model", attr, len(getattr(m, attr, {}))))
    return counts


def _global_hook_counts():
    mod = torch.nn.modules.module
    names = [n for n in dir(mod) if n.startswith("_global_") and n.endswith("hooks")]
    return {n: len(getattr(mod, n)) for n in names}


def _cam64(x, layer, cls, softmax=False, act="relu", pool="mean", batch_weights=False):
    """Grad-CAM and its classic variants, in float64 on the CPU."""
    model = copy.deepcopy(BASE).double()
    store = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(
        lambda m, i, o: store.update(a=o)
    )
    logits = model(x.detach().cpu().double())
    handle.remove()
    a = store["a"]
    scores = logits.softmax(1) if softmax else logits
    grads = torch.autograd.grad(scores.gather(1, cls.cpu().view(-1, 1)).sum(), a)[0]
    if pool == "none":
        s = (grads * a).sum(1)
    else:
        w = (
            grads.mean((2, 3), keepdim=True)
            if pool == "mean"
            else grads.sum((2, 3), keepdim=True)
        )
        if batch_weights:
            w = w.mean(0, keepdim=True)
        s = (w * a).sum(1)
    return {"relu": torch.relu, "none": lambda t: t, "abs": torch.abs}[act](s).detach()


def _logits64(x):
    return copy.deepcopy(BASE).double()(x.detach().cpu().double()).detach()


def _variants(x, layer, cls, argmax):
    right = _cam64(x, layer, cls)
    peak = right.amax((1, 2), keepdim=True).clamp_min(1e-30)
    mn = right.amin((1, 2), keepdim=True)
    return {
        "the gradient of the softmax probability was used: Grad-CAM uses the raw, pre-softmax "
        "logit": lambda: _cam64(x, layer, cls, softmax=True),
        "the ReLU was left out: cam = ReLU(Σ_k w_k A_k), negative evidence is zeroed": lambda: (
            _cam64(x, layer, cls, act="none")
        ),
        "abs was taken instead of the ReLU: negative values become 0, not positive": lambda: (
            _cam64(x, layer, cls, act="abs")
        ),
        "the gradients were summed over (h, w), not averaged: w_k is their spatial mean": lambda: (
            _cam64(x, layer, cls, pool="sum")
        ),
        "the gradient was multiplied with the activation element by element, without pooling "
        "it into one weight per channel: w_k is the spatial mean of the gradient": lambda: (
            _cam64(x, layer, cls, pool="none")
        ),
        "the channel weights were averaged over the batch: each sample has its own weights": (
            lambda: _cam64(x, layer, cls, batch_weights=True)
        ),
        "the map was normalised (divided by its max): return it unnormalised": right
        / peak,
        "the map was min-max normalised: return it unnormalised": (right - mn)
        / (right.amax((1, 2), keepdim=True) - mn).clamp_min(1e-30),
        "class_idx was ignored (each sample's argmax class was explained)": lambda: (
            _cam64(x, layer, argmax)
        ),
    }


def _run(impl, layer_key, mode, kind, device, seed, model=None):
    model = copy.deepcopy(BASE).to(device) if model is None else model
    model.train(mode == "train")
    layer = LAYERS[layer_key]
    target = dict(model.named_modules())[layer]
    x = randn((3, 3, 9, 7), seed, device)
    logits = _logits64(x)
    top2 = logits.topk(2, dim=1).values
    assert bool((top2[:, 0] - top2[:, 1] > 1e-3).all()), "test data: near-tied logits"
    argmax = logits.argmax(1)
    if kind == "none":
        class_idx, cls = None, argmax
    elif kind == "int":
        c = int((argmax[0] + 2) % NUM_CLASSES)
        class_idx, cls = c, torch.full((3,), c, dtype=torch.long)
    else:
        cls = (argmax + torch.tensor([1, 3, 5])) % NUM_CLASSES  # never the argmax
        class_idx = cls.to(device)
    modes = [(n, m.training) for n, m in model.named_modules()]
    hooks, global_hooks = _hook_counts(model), _global_hook_counts()
    before, wanted_grad = x.clone(), x.requires_grad
    out = call(impl.grad_cam, model, target, x, class_idx, what="grad_cam")
    context = (
        f"target layer {layer} ({type(target).__name__}), model in {mode} mode, class_idx "
        + {
            "none": "None (argmax)",
            "int": f"{class_idx} (an int)",
            "tensor": f"{cls.tolist()}",
        }[kind]
    )
    assert_unchanged(before, x, "x")
    assert x.requires_grad == wanted_grad and x.grad is None, (
        "grad_cam changed the caller's x (its requires_grad flag or its .grad): leave x alone; "
        "the gradient needed is d(logit)/dA at the target layer, which a hook gives"
    )
    left = [
        f"{name}.{attr}"
        for (name, attr, n), (_, _, n0) in zip(_hook_counts(model), hooks)
        if n != n0
    ]
    assert not left and _global_hook_counts() == global_hooks, (
        f"hooks were left registered after grad_cam [{context}]: {left or 'global hooks'}; "
        "keep the handles and call handle.remove() (in a finally block)"
    )
    changed = [
        n or "model"
        for (n, t), (_, t2) in zip(modes, model.named_modules())
        if t != t2.training
    ]
    assert not changed, (
        f"grad_cam changed the train/eval mode of {changed} [{context}]: leave the model's mode "
        "as the caller set it (no model.eval() / model.train())"
    )
    expected = _cam64(x, layer, cls).to(device=device, dtype=x.dtype)
    assert isinstance(out, torch.Tensor), f"expected a tensor, got {type(out).__name__}"
    if out.shape != expected.shape:
        note = ""
        if tuple(out.shape[-2:]) == tuple(x.shape[-2:]):
            note = (
                "\nlikely bug: the map has the input's size: it was upsampled, or built from "
                "the target layer's input instead of its output; return it at the target "
                "layer's output resolution (h, w)"
            )
        elif out.dim() == 4 and out.shape[1] == 1:
            note = "\nlikely bug: a channel dim was kept: return (B, h, w)"
        raise AssertionError(
            f"output [{context}]: shape expected {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}{note}"
        )
    assert_close_diagnosed(
        out.detach(),
        expected,
        lambda: _variants(x, layer, cls, argmax),
        context=context,
        **TOL,
    )


@pytest.mark.parametrize("kind", ["none", "int", "tensor"])
@pytest.mark.parametrize("layer_key", ["conv", "relu"])
def test_matches_grad_cam_in_eval_mode(impl, device, layer_key, kind):
    _run(impl, layer_key, "eval", kind, device, seed=10 + len(kind) + len(layer_key))


@pytest.mark.parametrize("kind", ["none", "tensor"])
def test_train_mode_is_kept(impl, device, kind):
    _run(impl, "conv", "train", kind, device, seed=30 + len(kind))


def test_twice_in_a_row(impl, device):
    # a hook left behind, or state kept between calls, shows on the second call
    model = copy.deepcopy(BASE).to(device)
    _run(impl, "relu", "eval", "tensor", device, seed=40, model=model)
    _run(impl, "conv", "eval", "int", device, seed=41, model=model)
