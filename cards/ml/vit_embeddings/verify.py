"""Verifier for ViT embeddings: against transformers' ViTEmbeddings run in float64 with the
attempt's own parameters loaded by name (strict), for several image / patch / channel sizes
(an image size that is not a multiple of the patch size, a single patch, patch size 1),
non-contiguous input, float64, gradients, and dropout in train and eval mode.

A failed comparison names the classic mistake the output matches, if any, each computed in
float64 from the same weights: patches in column-major order, patches flattened (row, col,
channel) instead of (channel, row, col), the class token without its position embedding or
appended last, the bias or the position embeddings left out."""

import pytest
import torch
from transformers import ViTConfig
from transformers.models.vit.modeling_vit import ViTEmbeddings as HFViTEmbeddings

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)

NAMES = {
    "cls_token",
    "position_embeddings",
    "patch_embeddings.projection.weight",
    "patch_embeddings.projection.bias",
}


def _shapes(S, p, C, H):
    n = (S // p) ** 2
    return {
        "cls_token": (1, 1, H),
        "position_embeddings": (1, n + 1, H),
        "patch_embeddings.projection.weight": (H, C, p, p),
        "patch_embeddings.projection.bias": (H,),
    }


def _state(S, p, C, H, seed):
    """Seeded non-trivial float64 values for every parameter, on the CPU."""
    g = generator(seed)
    return {
        name: torch.randn(shape, generator=g, dtype=torch.float64)
        * (0.5 if "weight" in name else 1.0)
        for name, shape in _shapes(S, p, C, H).items()
    }


def make(impl, S, p, C, H, device, dtype=torch.float32, seed=0, dropout=None):
    """The attempt's module, its parameter names and shapes checked, loaded with seeded values."""
    kwargs = {} if dropout is None else {"dropout": dropout}
    module = call(impl.ViTEmbeddings, S, p, C, H, **kwargs, what="ViTEmbeddings")
    args = f"ViTEmbeddings({S}, {p}, {C}, {H})"
    params = dict(module.named_parameters())
    assert set(params) == NAMES, (
        f"{args}: the parameters must be exactly transformers' {sorted(NAMES)}, got "
        f"{sorted(params)}"
    )
    for name, shape in _shapes(S, p, C, H).items():
        assert tuple(params[name].shape) == shape, (
            f"{args}: `{name}` shape expected {shape}, got {tuple(params[name].shape)}"
        )
    state = _state(S, p, C, H, seed)
    module = module.to(device=device, dtype=dtype)
    module.load_state_dict(state, strict=False)
    return module, state


def expected(x, S, p, C, H, state, requires_grad=False):
    """transformers' ViTEmbeddings in float64 on the CPU with `state` loaded."""
    config = ViTConfig(
        image_size=S,
        patch_size=p,
        num_channels=C,
        hidden_size=H,
        num_attention_heads=1,
        hidden_dropout_prob=0.0,
    )
    ref = HFViTEmbeddings(config).to(torch.float64).eval()
    ref.load_state_dict(state, strict=True)
    ref.requires_grad_(requires_grad)
    return ref, ref(x)


def _embed(
    x, state, p, order="row", flatten="chw", cls_pos=True, cls_last=False, bias=True
):
    """The embeddings in float64 from the formula, with one mistake per keyword."""
    x = x.detach().to("cpu", torch.float64)
    w = state["patch_embeddings.projection.weight"]
    b = state["patch_embeddings.projection.bias"]
    H = w.shape[0]
    B, C, S, _ = x.shape
    g = S // p
    t = x[:, :, : g * p, : g * p].reshape(B, C, g, p, g, p)
    grid = (0, 2, 4) if order == "row" else (0, 4, 2)
    inner = (1, 3, 5) if flatten == "chw" else (3, 5, 1)
    patches = t.permute(*grid, *inner).reshape(B, g * g, -1)
    tokens = patches @ w.reshape(H, -1).T + (b if bias else 0)
    pos = state["position_embeddings"]
    cls = state["cls_token"].expand(B, 1, H)
    if not cls_pos:
        return torch.cat([cls, tokens + pos[:, 1:]], 1)
    if cls_last:
        return torch.cat([tokens, cls], 1) + pos
    return torch.cat([cls, tokens], 1) + pos


def _variants(x, state, p):
    return {
        "the patches are ordered column by column: token 1 + r·g + c is patch (row r, "
        "col c), row-major (flatten the patch grid's row index first)": _embed(
            x, state, p, order="col"
        ),
        "each patch was flattened in (row, col, channel) order: the projection weight is "
        "(H, C, p, p), so flatten a patch as (channel, row, col), channel outermost": _embed(
            x, state, p, flatten="hwc"
        ),
        "the class token got no position embedding: add position_embeddings (all N + 1 "
        "rows) after concatenating the class token, row 0 goes to the class token": _embed(
            x, state, p, cls_pos=False
        ),
        "the class token was appended after the patches: it is token 0, in front": _embed(
            x, state, p, cls_last=True
        ),
        "the projection bias was not added": _embed(x, state, p, bias=False),
    }


def _check(out, x, S, p, C, H, state, context):
    _, ref = expected(x.detach().to("cpu", torch.float64), S, p, C, H, state)
    atol, rtol = tolerance(x.dtype)
    assert_close_diagnosed(
        out,
        ref.to(device=x.device, dtype=x.dtype),
        lambda: _variants(x, state, p),
        atol=atol,
        rtol=rtol,
        context=context,
    )


CONFIGS = [
    (8, 4, 3, 6, 2),
    (12, 3, 2, 10, 3),
    (
        10,
        4,
        3,
        5,
        2,
    ),  # 10 is not a multiple of 4: the last 2 rows and columns are dropped
    (7, 7, 3, 4, 2),  # one patch
    (5, 1, 2, 3, 1),  # patch size 1: every pixel a token
]


@pytest.mark.parametrize(
    "S,p,C,H,B", CONFIGS, ids=[f"S{c[0]}-p{c[1]}-C{c[2]}-H{c[3]}" for c in CONFIGS]
)
def test_matches_transformers(impl, device, S, p, C, H, B):
    module, state = make(impl, S, p, C, H, device, seed=S + p)
    module.eval()
    x = randn((B, C, S, S), seed=S * 7 + C, device=device)
    before = x.clone()
    out = module(x)
    assert_unchanged(before, x, "pixel_values")
    extra = " (not a multiple of the patch size)" if S % p else ""
    _check(out, x, S, p, C, H, state, f"image {S}x{S}{extra}, patch {p}, {C} channels")


def test_non_contiguous_input(impl, device):
    S, p, C, H = 8, 2, 3, 6
    module, state = make(impl, S, p, C, H, device, seed=11)
    module.eval()
    # channels-last memory and a transposed (H, W) view: not contiguous
    x = randn((2, C, S, S), seed=12, device=device).transpose(2, 3)
    assert not x.is_contiguous()
    _check(module(x), x, S, p, C, H, state, "non-contiguous (transposed) input")
    y = randn((2, C, S, S), seed=13, device=device).to(
        memory_format=torch.channels_last
    )
    _check(module(y), y, S, p, C, H, state, "channels-last input")


def test_float64(impl, device):
    S, p, C, H = 9, 3, 3, 7
    module, state = make(impl, S, p, C, H, device, dtype=torch.float64, seed=14)
    module.eval()
    x = randn((2, C, S, S), seed=15, device=device, dtype=torch.float64)
    _check(module(x), x, S, p, C, H, state, "float64 module and input")


def test_gradients_reach_input_and_every_parameter(impl, device):
    S, p, C, H = 8, 4, 2, 5
    module, state = make(impl, S, p, C, H, device, seed=16)
    module.eval()
    x = randn((2, C, S, S), seed=17, device=device).requires_grad_()
    out = module(x)
    upstream = torch.randn(out.shape, generator=generator(18), dtype=torch.float64)
    (out * upstream.to(device=device, dtype=out.dtype)).sum().backward()
    x64 = x.detach().cpu().double().requires_grad_()
    ref, ref_out = expected(x64, S, p, C, H, state, requires_grad=True)
    (ref_out * upstream).sum().backward()
    assert x.grad is not None, (
        "no gradient reached the pixel values: is the output detached?"
    )
    assert_close(
        x.grad,
        x64.grad.to(device=device, dtype=x.dtype),
        what="gradient of pixel_values",
    )
    ref_params = dict(ref.named_parameters())
    for name, param in module.named_parameters():
        assert param.grad is not None, (
            f"no gradient reached `{name}`: is it used in the output (not detached)?"
        )
        assert_close(
            param.grad,
            ref_params[name].grad.to(device=device, dtype=param.dtype),
            what=f"gradient of {name}",
        )


def test_dropout_train_and_eval(impl, device):
    S, p, C, H = 8, 2, 3, 64  # 4 x 17 x 64 values
    module, state = make(impl, S, p, C, H, device, seed=19, dropout=0.5)
    x = randn((4, C, S, S), seed=20, device=device)
    _, ref = expected(x.cpu().double(), S, p, C, H, state)
    module.eval()
    out = module(x)
    atol, rtol = tolerance(torch.float32)
    assert_close_diagnosed(
        out,
        ref.to(device=device, dtype=x.dtype),
        lambda: {
            "dropout was applied in eval mode: it acts in training mode only "
            "(module.training), eval returns the embeddings unchanged": ref
            * (out.detach().cpu().double() != 0)
            * 2
        },
        atol=atol,
        rtol=rtol,
        context="dropout=0.5, eval mode",
    )
    module.train()
    torch.manual_seed(21)
    out = module(x).detach().cpu().double()
    assert out.shape == ref.shape, f"train mode: shape expected {tuple(ref.shape)}"
    dropped = out == 0
    kept = ~dropped
    assert torch.allclose(out[kept], 2 * ref[kept], atol=1e-4, rtol=1e-4), (
        "dropout=0.5, train mode: the values kept must be the embeddings / (1 - p) = 2x "
        "(inverted dropout applied to the final sum, after the position embeddings)"
    )
    rate = dropped.double().mean().item()
    # 4352 independent values: 0.5 +- 0.06 is more than 7 standard deviations
    assert 0.44 < rate < 0.56, (
        f"dropout=0.5, train mode: {rate:.1%} of the values are zero, expected about 50%"
    )
