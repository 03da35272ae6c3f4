"""Verifier for one GAN training step: on float64 copies of a small generator and
discriminator (same weights, Adam optimisers built the same way), the parameters of D and G
after one and after three steps, and the returned losses, equal those of the reference step;
G runs exactly once per step; D's logits may be (B,) or (B, 1); large logits in float32 must
give finite losses.

A failed comparison names the classic mistake it matches, simulated on copies: the saturating
generator loss, fake not detached with G's gradients not zeroed (D's loss leaks into G), D's
targets swapped. G scored by the D from before its step makes autograd raise (D's weights
changed in place); that error is named too."""

import copy

import pytest
import torch
import torch.nn.functional as F

from cards.checks import assert_close_diagnosed, call, generator


def _models(seed, device, dtype=torch.float64, flat_logits=False, d_scale=1.0):
    torch.manual_seed(seed)
    G = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    )
    layers = [torch.nn.Linear(3, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1)]
    if flat_logits:
        layers.append(torch.nn.Flatten(0))  # (B, 1) -> (B,)
    D = torch.nn.Sequential(*layers)
    with torch.no_grad():
        D[2].weight.mul_(d_scale)
    return G.to(device=device, dtype=dtype), D.to(device=device, dtype=dtype)


def _opts(G, D):
    return (
        torch.optim.Adam(G.parameters(), lr=0.02, betas=(0.5, 0.999)),
        torch.optim.Adam(D.parameters(), lr=0.02, betas=(0.5, 0.999)),
    )


def _data(seed, device, dtype=torch.float64, B=6, scale=1.0):
    g = generator(seed)
    real = torch.randn(B, 3, generator=g, dtype=torch.float64) * scale + 1.0
    z = torch.randn(B, 4, generator=g, dtype=torch.float64)
    return real.to(device=device, dtype=dtype), z.to(device=device, dtype=dtype)


def _step(G, D, opt_G, opt_D, real, z, bug=None):
    """One step with one rule changed by `bug` (None: the contract)."""
    fake = G(z)
    if bug == "g_first":
        opt_G.zero_grad()
        loss_G = F.softplus(-D(fake)).mean()
        loss_G.backward()
        opt_G.step()
        opt_D.zero_grad()
        loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        loss_D.backward()
        opt_D.step()
        return loss_D.detach(), loss_G.detach()
    if bug == "no_detach":
        opt_G.zero_grad()
    opt_D.zero_grad()
    if bug == "swapped":
        loss_D = F.softplus(D(real)).mean() + F.softplus(-D(fake.detach())).mean()
    else:
        f = fake if bug == "no_detach" else fake.detach()
        loss_D = F.softplus(-D(real)).mean() + F.softplus(D(f)).mean()
    if bug == "old_D":
        scored = D(fake)
    loss_D.backward(retain_graph=bug == "no_detach")
    opt_D.step()
    if bug != "no_detach":
        opt_G.zero_grad()
    if bug != "old_D":
        scored = D(fake)
    if bug == "saturating":
        loss_G = -F.softplus(scored).mean()
    else:
        loss_G = F.softplus(-scored).mean()
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()


BUGS = {
    "the generator used the saturating loss (minimising log(1 - D(G(z))) = "
    "-softplus(D(fake))): use the non-saturating mean softplus(-D(fake))": "saturating",
    "D's loss reached G: fake was not detached in D's step and G's gradients were not zeroed "
    "before its own step; use fake.detach() for D": "no_detach",
    "G stepped before D: take D's step first, then score fake with the updated D for G's "
    "step": "g_first",
    "D's targets were swapped: D's loss is mean softplus(-D(real)) + mean softplus(D(fake))": (
        "swapped"
    ),
}


def _flat(m):
    return torch.cat(
        [p.detach().reshape(-1).to("cpu", torch.float64) for p in m.parameters()]
    )


def _simulate(G0, D0, batches, bug=None):
    G, D = copy.deepcopy(G0), copy.deepcopy(D0)
    opt_G, opt_D = _opts(G, D)
    losses = [_step(G, D, opt_G, opt_D, r, z, bug) for r, z in batches]
    return G, D, losses


def _run(impl, G, D, opt_G, opt_D, real, z, context):
    calls = []
    handle = G.register_forward_hook(lambda *_: calls.append(1))
    r0, z0 = real.clone(), z.clone()
    try:
        out = call(
            impl.gan_train_step, G, D, opt_G, opt_D, real, z, what="gan_train_step"
        )
    except RuntimeError as exc:
        if "modified by an inplace operation" in str(exc):
            raise AssertionError(
                f"[{context}] RuntimeError: {exc}\nlikely bug: G was scored by the "
                "discriminator from before its step: opt_D.step() changes D's weights in "
                "place, so a D(fake) computed before it cannot be backpropagated; compute "
                "D(fake) for G's loss after opt_D.step()"
            ) from None
        raise
    finally:
        handle.remove()
    assert torch.equal(real, r0) and torch.equal(z, z0), (
        f"[{context}] real or z was modified"
    )
    assert len(calls) == 1, (
        f"[{context}] G ran {len(calls)} times in one step: compute fake = G(z) once, use "
        "fake.detach() for D's step and fake itself for G's"
    )
    assert isinstance(out, tuple) and len(out) == 2, (
        f"[{context}] gan_train_step should return a tuple (loss_D, loss_G)"
    )
    for name, t in zip(("loss_D", "loss_G"), out):
        assert isinstance(t, torch.Tensor) and t.dim() == 0, (
            f"[{context}] {name} should be a 0-dim tensor"
        )
        assert not t.requires_grad, (
            f"[{context}] {name} still carries autograd history: return loss.detach()"
        )
    return out


def _check(impl, device, steps, context, dtype=torch.float64, **kw):
    G, D = _models(
        0,
        device,
        dtype,
        flat_logits=kw.get("flat", False),
        d_scale=kw.get("d_scale", 1.0),
    )
    batches = [
        _data(10 + i, device, dtype, scale=kw.get("x_scale", 1.0)) for i in range(steps)
    ]
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    opt_G, opt_D = _opts(G, D)
    got = [_run(impl, G, D, opt_G, opt_D, r, z, context) for r, z in batches]
    for i, pair in enumerate(got):
        for name, t in zip(("loss_D", "loss_G"), pair):
            assert torch.isfinite(t), (
                f"[{context}] {name} of step {i + 1} is {t.item()}: with large logits "
                "log(sigmoid(x)) and log(1 - sigmoid(x)) underflow to -inf; write them as "
                "-softplus(-x) and -softplus(x)"
            )
    G_ref, D_ref, losses = _simulate(G0, D0, batches)
    tol = {} if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-3}
    for name, model, ref, pick in (
        ("D", D, D_ref, lambda s: s[1]),
        ("G", G, G_ref, lambda s: s[0]),
    ):
        assert_close_diagnosed(
            _flat(model),
            _flat(ref),
            lambda pick=pick: {
                why: lambda bug=bug: _flat(pick(_simulate(G0, D0, batches, bug)))
                for why, bug in BUGS.items()
            },
            what=f"{name}'s parameters after {steps} step(s) (flattened)",
            context=context,
            check_dtype=False,
            **tol,
        )
    for i, ((ld, lg), (rd, rg)) in enumerate(zip(got, losses)):
        for name, a, e in (("loss_D", ld, rd), ("loss_G", lg, rg)):
            assert torch.isfinite(a), (
                f"[{context}] {name} of step {i + 1} is {a.item()}"
            )
            _assert_loss(a, e, name, i, context, tol)


def _assert_loss(a, e, name, i, context, tol):
    atol, rtol = tol.get("atol", 1e-9), tol.get("rtol", 1e-7)
    assert a.device.type == e.device.type, f"[{context}] {name} is on {a.device}"
    assert abs(a.item() - e.item()) <= atol + rtol * abs(e.item()), (
        f"[{context}] {name} of step {i + 1}: got {a.item():.8g}, expected {e.item():.8g}"
        + (
            " (loss_G is scored by the D after its step)"
            if name == "loss_G"
            else " (loss_D = mean softplus(-D(real)) + mean softplus(D(fake)), before D's step)"
        )
    )


def test_one_step(impl, device):
    _check(impl, device, 1, "one step, D logits (B, 1)")


def test_three_steps(impl, device):
    _check(impl, device, 3, "three steps in a row, D logits (B, 1)")


def test_flat_logits(impl, device):
    _check(impl, device, 2, "two steps, D logits (B,)", flat=True)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["D-sure", "D-fooled"])
def test_large_logits_float32(impl, device, sign):
    # D's last layer scaled so that its logits on real samples reach about +-300 and on fakes
    # about +-20: log(sigmoid(x)) and log(1 - sigmoid(x)) give -inf in float32 (the first with
    # D-sure, the second with D-fooled); softplus stays finite.
    _check(
        impl,
        device,
        1,
        f"float32, |D logits| up to about 300 (sign {sign:+g})",
        dtype=torch.float32,
        d_scale=200.0 * sign,
        x_scale=3.0,
    )


def test_logits_are_large(impl, device):
    """Guards the test above: its logits really are large."""
    G, D = _models(0, device, torch.float32, d_scale=200.0)
    real, z = _data(10, device, torch.float32, scale=3.0)
    with torch.no_grad():
        assert D(real).min().item() < -110 and D(G(z)).abs().max().item() > 18
