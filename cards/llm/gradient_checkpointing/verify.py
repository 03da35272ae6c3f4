"""Verifier for gradient checkpointing: the attempt's checkpoint(fn, *args) against plain
fn(*args) on the same inputs and weights.

- The output and the gradients (of the tensor arguments and of the parameters fn uses) equal
  the plain ones; arguments that do not require grad get none.
- The forward keeps at most the tensor arguments (+1): saved tensors are counted with
  torch.autograd.graph.saved_tensors_hooks, and plain fn saves many more.
- fn runs again during backward, and the result comes from a custom autograd.Function.

Failures name the classic mistakes: no recompute (the graph kept), parameters left without
gradients, inputs not detached before the recompute (a gradient counted twice upstream), the
recompute under no_grad, requires_grad set on an integer argument, the wrong number of
gradients returned."""

import pytest
import torch
from torch import nn

from cards.checks import assert_close, call, generator, randn


class Block(nn.Module):
    """A pre-norm MLP block: many saved activations when run plainly."""

    def __init__(self, dim, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        return x + self.down(torch.tanh(self.up(self.norm(x))))


def _blocks(n, dim, device, seed=0):
    return [Block(dim, seed + i).to(device) for i in range(n)]


class _Counter:
    """fn wrapped: counts calls, and those made while backward runs."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def _count_saved(run):
    """(result of run(), number of tensors packed for backward while it ran)."""
    packed = []

    def pack(t):
        packed.append(t.shape)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = run()
    return result, len(packed)


def _backward(loss, context):
    """loss.backward(), with the classic errors raised inside a checkpoint's backward named."""
    try:
        loss.backward()
    except RuntimeError as exc:
        text = str(exc)
        note = ""
        if "does not require grad" in text:
            note = (
                "the recompute in backward ran without gradient tracking: backward runs under "
                "no_grad, so wrap the second fn(*args) in torch.enable_grad()"
            )
        elif "floating point" in text and "require" in text:
            note = (
                "requires_grad was set on an integer tensor argument: give requires_grad only "
                "to the tensors that needed a gradient (ctx.needs_input_grad / t.requires_grad)"
            )
        elif "incorrect number of gradients" in text:
            note = (
                "backward must return one value per input of forward, in order: None for fn, "
                "a gradient (or None) for each of fn's arguments, None for non-tensors"
            )
        elif "backward through the graph a second time" in text:
            note = (
                "the saved inputs were not detached before the recompute: the recomputed graph "
                "reached the layers before checkpoint; detach them before running fn again, "
                "and return their gradients instead"
            )
        if not note:
            raise
        raise AssertionError(
            f"{context}: loss.backward() raised an error\nlikely bug: {note}\n"
            f"(torch said: {text.splitlines()[0][:160]})"
        ) from None


def _leaf(t):
    return t.detach().clone().requires_grad_(t.requires_grad)


def _check_grads(pairs, context, upstream_note=""):
    """pairs: (name, tensor from the checkpointed run, its twin from the plain run)."""
    for name, mine, plain in pairs:
        if plain.grad is None:
            assert mine.grad is None, (
                f"{context}: `{name}` does not require grad, but received a gradient"
            )
            continue
        if mine.grad is None:
            raise AssertionError(
                f"{context}: no gradient reached `{name}`"
                + (
                    "\nlikely bug: the parameters used inside fn got no gradient: after "
                    "recomputing, backpropagate through the new graph with "
                    "torch.autograd.backward(out, grad_out) (torch.autograd.grad with only the "
                    "inputs leaves parameters out)"
                    if isinstance(plain, nn.Parameter)
                    else ""
                )
            )
        if (
            torch.allclose(mine.grad, 2 * plain.grad, atol=1e-5, rtol=1e-4)
            and upstream_note
        ):
            raise AssertionError(
                f"{context}: the gradient of `{name}` is twice the plain one\n{upstream_note}"
            )
        assert_close(mine.grad, plain.grad, what=f"gradient of {name}", context=context)


def _check_custom_function(out, context):
    assert isinstance(out, torch.Tensor), (
        f"{context}: checkpoint must return fn's tensor output"
    )
    assert out.grad_fn is not None, (
        f"{context}: the output has no grad_fn (detached?): gradients could not flow"
    )
    assert isinstance(out.grad_fn, torch.autograd.function.BackwardCFunction), (
        f"{context}: the output's grad_fn is {type(out.grad_fn).__name__}, not a custom "
        "autograd.Function's: implement checkpoint with a torch.autograd.Function subclass"
    )


def _run_pair(impl, make_fn, args, context, device):
    """Plain fn(*args) and checkpoint(fn, *args') on twin inputs and twin weights; loss.backward()
    on both; checks the output, the saved-tensor count, the recompute and every gradient."""
    plain_fn, plain_params = make_fn()
    mine_fn, mine_params = make_fn()
    plain_args = [_leaf(a) if isinstance(a, torch.Tensor) else a for a in args]
    mine_args = [_leaf(a) if isinstance(a, torch.Tensor) else a for a in args]
    counter = _Counter(mine_fn)
    plain_out, plain_saved = _count_saved(lambda: plain_fn(*plain_args))
    try:
        out, saved = _count_saved(lambda: call(impl.checkpoint, counter, *mine_args))
    except TypeError as exc:
        if "save_for_backward" not in str(exc) and "saved" not in str(exc):
            raise
        raise AssertionError(
            f"{context}: checkpoint raised TypeError: {exc}\nlikely bug: save_for_backward "
            "takes tensors (or None) only: keep the non-tensor arguments on ctx as plain "
            "attributes"
        ) from None
    n_tensors = sum(isinstance(a, torch.Tensor) for a in args)
    assert_close(out, plain_out.detach(), what="output", context=context)
    _check_custom_function(out, context)
    assert saved <= n_tensors + 1 < plain_saved, (
        f"{context}: the forward kept {saved} tensors for backward; plain fn keeps {plain_saved}, "
        f"and a checkpoint should keep only its {n_tensors} tensor argument(s)"
        + (
            "\nlikely bug: fn's graph was kept instead of being recomputed in backward: run fn "
            "without recording (a Function's forward already does) and save only the inputs"
            if saved >= plain_saved
            else ""
        )
    )
    calls = counter.calls
    upstream = randn(plain_out.shape, seed=99, device=device)
    (plain_out * upstream).sum().backward()
    _backward((out * upstream).sum(), context)
    assert counter.calls > calls, (
        f"{context}: fn did not run again during backward: checkpointing recomputes the "
        "forward in backward instead of keeping its activations"
    )
    names = [f"argument {i}" for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    pairs = [
        (n, m, p)
        for n, m, p in zip(
            names,
            [a for a in mine_args if isinstance(a, torch.Tensor)],
            [a for a in plain_args if isinstance(a, torch.Tensor)],
        )
    ]
    pairs += [
        (f"parameter {n}", m, p) for (n, m), (_, p) in zip(mine_params, plain_params)
    ]
    _check_grads(pairs, context)


def _module_fn(n, dim, device):
    def make():
        blocks = _blocks(n, dim, device)
        seq = nn.Sequential(*blocks)
        return seq, [(n, p) for n, p in seq.named_parameters()]

    return make


@pytest.mark.parametrize("n_blocks", [1, 3])
def test_module_as_fn(impl, device, n_blocks):
    x = randn((4, 6, 8), seed=1, device=device).requires_grad_()
    _run_pair(
        impl,
        _module_fn(n_blocks, 8, device),
        [x],
        f"checkpoint(nn.Sequential of {n_blocks} MLP block(s), x (4, 6, 8))",
        device,
    )


def test_closure_with_mixed_arguments(impl, device):
    # fn(x, y, mask, scale, index, flag): two tensors needing grad, a float mask that does not,
    # a Python float, an int64 index tensor and None.
    def make():
        block = Block(5, seed=7).to(device)

        def fn(x, y, mask, scale, index, flag):
            h = block(x * scale + y) * mask
            assert flag is None
            return h.index_select(1, index).pow(2)

        return fn, list(block.named_parameters())

    args = [
        randn((3, 4, 5), seed=2, device=device).requires_grad_(),
        randn((3, 4, 5), seed=3, device=device).requires_grad_(),
        (torch.rand(3, 4, 5, generator=generator(4)) > 0.3).float().to(device),
        0.7,
        torch.tensor([0, 2, 3], device=device),
        None,
    ]
    _run_pair(
        impl,
        make,
        args,
        "checkpoint(fn, x, y, mask, 0.7, index, None): tensors with and without grad, "
        "a float, an int64 tensor and None",
        device,
    )


def test_input_without_grad_parameters_with(impl, device):
    # x comes from data (no grad) but a second argument needs one: parameters must still learn.
    def make():
        block = Block(6, seed=11).to(device)
        return (lambda x, bias: block(x + bias)), list(block.named_parameters())

    args = [
        randn((2, 5, 6), seed=5, device=device),
        randn((6,), seed=6, device=device).requires_grad_(),
    ]
    _run_pair(
        impl, make, args, "checkpoint(fn, x without grad, bias with grad)", device
    )


def test_stack_of_checkpointed_blocks_after_other_layers(impl, device):
    # The usual use: a stack of checkpointed blocks between ordinary layers. The input of the
    # first checkpoint is not a leaf, so its gradient must flow on to the embedding.
    context = "embedding -> 3 checkpointed blocks -> head, loss.backward()"
    grads = []
    for use_checkpoint in (False, True):
        torch.manual_seed(0)
        embed = nn.Linear(4, 8).to(device)
        blocks = _blocks(3, 8, device, seed=20)
        head = nn.Linear(8, 1).to(device)
        x = randn((3, 7, 4), seed=8, device=device)
        h = embed(x) * 2.0
        for block in blocks:
            h = call(impl.checkpoint, block, h) if use_checkpoint else block(h)
        loss = head(h).pow(2).mean()
        if use_checkpoint:
            _backward(loss, context)
        else:
            loss.backward()
        params = [("embed.weight", embed.weight), ("embed.bias", embed.bias)]
        params += [
            (f"blocks.{i}.{n}", p)
            for i, b in enumerate(blocks)
            for n, p in b.named_parameters()
        ]
        params += [("head.weight", head.weight)]
        grads.append(params)
    twice = (
        "likely bug: the saved inputs were not detached before the recompute: the recomputed "
        "graph reached the layers before checkpoint, which then got the gradient twice (once "
        "through it, once from the gradient returned); detach them first"
    )
    _check_grads(
        [(n, m, p) for (n, p), (_, m) in zip(grads[0], grads[1])],
        context,
        upstream_note=twice,
    )


def test_saved_tensors_over_a_stack(impl, device):
    blocks = _blocks(4, 8, device, seed=30)
    x = randn((2, 5, 8), seed=9, device=device).requires_grad_()

    def run(use):
        h = x
        for b in blocks:
            h = call(impl.checkpoint, b, h) if use else b(h)
        return h

    _, plain = _count_saved(lambda: run(False))
    _, mine = _count_saved(lambda: run(True))
    assert mine <= 2 * len(blocks) < plain, (
        f"4 checkpointed blocks kept {mine} tensors for backward; plain blocks keep {plain}: a "
        "checkpoint keeps only its inputs"
    )


def test_output_equals_fn_without_grad(impl, device):
    blocks = _blocks(1, 8, device, seed=40)
    x = randn((2, 3, 8), seed=10, device=device)
    with torch.no_grad():
        out = call(impl.checkpoint, blocks[0], x)
        want = blocks[0](x)
    assert_close(out, want, what="output under torch.no_grad()")
