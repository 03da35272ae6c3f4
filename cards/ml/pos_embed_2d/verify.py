"""Verifier for 2-D sin-cos position embeddings (MAE layout): against the formula in float64 and
against transformers' build_2d_sinusoidal_position_embedding with its halves swapped (as
ViT-MAE's initialize_weights does), for square and non-square grids, a single row or column,
D/4 = 1 and MAE's 14 x 14 grid.

A failed comparison names the classic mistake the output matches: the row index in the first
half (transformers' own layout), rows in column-major order (torch.meshgrid's default "ij"
applied to (w, h)), sin and cos interleaved, cos before sin, frequencies over D/2 instead of
D/4, and the position index (i * grid_w + j) used for both axes."""

import pytest
import torch
from transformers.models.vit_mae.modeling_vit_mae import (
    build_2d_sinusoidal_position_embedding,
)

from cards.checks import assert_close, assert_close_diagnosed, call


def formula(
    D, gh, gw, first="col", order="row", interleave=False, cos_first=False, span=4
):
    """float64 (gh * gw, D) with one mistake per keyword."""
    q = D // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / (D / span))
    if order == "row":
        i, j = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    else:  # column-major rows: row r = j * gh + i
        j, i = torch.meshgrid(torch.arange(gw), torch.arange(gh), indexing="ij")
    i, j = i.flatten().double(), j.flatten().double()
    if first == "flat":
        i = j = i * gw + j
    a, b = (j, i) if first in ("col", "flat") else (i, j)

    def axis(pos):
        ang = torch.outer(pos, omega)
        s, c = (ang.cos(), ang.sin()) if cos_first else (ang.sin(), ang.cos())
        if interleave:
            return torch.stack([s, c], dim=-1).flatten(1)
        return torch.cat([s, c], dim=1)

    return torch.cat([axis(a), axis(b)], dim=1)


def _variants(D, gh, gw):
    return {
        "the row index i fills the first half (transformers' own layout): MAE's layout puts "
        "the column index j first, [sin(jw) | cos(jw) | sin(iw) | cos(iw)]": formula(
            D, gh, gw, first="row"
        ),
        "the rows are in column-major order (row j * grid_h + i): row i * grid_w + j is "
        "position (i, j); torch.meshgrid(arange(grid_h), arange(grid_w), indexing='ij') "
        "flattens that way": formula(D, gh, gw, order="col"),
        "sin and cos are interleaved (sin, cos, sin, cos, ...): each half is all the sines, "
        "then all the cosines": formula(D, gh, gw, interleave=True),
        "cos comes before sin: each half is [sin | cos]": formula(
            D, gh, gw, cos_first=True
        ),
        "the frequencies run over D/2 (w_k = 10000^(-k / (D/2))): each axis has D/4 "
        "frequencies, w_k = 10000^(-k / (D/4))": formula(D, gh, gw, span=2),
        "the flat position index was used for both axes: encode the column j and the row i "
        "separately": formula(D, gh, gw, first="flat"),
    }


def _transformers(D, gh, gw):
    """transformers' builder with its halves swapped, as ViT-MAE stores it (float64 here)."""
    pe = build_2d_sinusoidal_position_embedding(gh, gw, D, dtype=torch.float64)
    return torch.cat([pe[:, D // 2 :], pe[:, : D // 2]], dim=1)


CASES = [
    (16, 4, 4),
    (8, 3, 5),
    (12, 5, 2),
    (32, 7, 7),
    (4, 1, 6),
    (8, 6, 1),
    (64, 14, 14),
]


@pytest.mark.parametrize(
    "D,gh,gw", CASES, ids=[f"D{c[0]}-{c[1]}x{c[2]}" for c in CASES]
)
def test_matches_mae_layout(impl, device, D, gh, gw):
    out = call(impl.sincos_2d_pos_embed, D, gh, gw, what="sincos_2d_pos_embed")
    context = f"embed_dim={D}, grid {gh} x {gw}"
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (gh * gw + 1, D):
        raise AssertionError(
            f"[{context}]: shape expected {(gh * gw, D)}, got {tuple(out.shape)}: no class "
            "token row (the caller prepends one if it wants it)"
        )
    want = formula(D, gh, gw)
    # the two references
    assert torch.allclose(want, _transformers(D, gh, gw), atol=1e-12)
    assert_close_diagnosed(
        out,
        want.float(),
        lambda: _variants(D, gh, gw),
        context=context,
        dtype_rule="return float32",
    )


def test_float32_without_grad(impl, device):
    a = call(impl.sincos_2d_pos_embed, 8, 2, 3, what="sincos_2d_pos_embed")
    assert_close(
        a,
        formula(8, 2, 3).float(),
        context="embed_dim=8, grid 2 x 3",
        dtype_rule="return float32",
    )
    assert not a.requires_grad, "the embedding is fixed: it must not require grad"
