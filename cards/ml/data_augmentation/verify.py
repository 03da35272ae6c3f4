"""Verifier for random_crop_flip. The images hold distinct values, so every output image is
matched, exactly, to the one crop position and flip of its own input image that produced it
(any order of draws is accepted). Then statistically, over thousands of images: the (top, left,
flip) triples are uniform over every position (both ends included) and both flips, independent
between images (a chi-square test a correct augmentation fails less than once in a million
runs). Also: shapes for int and (h, w) sizes, dtype and device, the input unchanged and not
aliased, every draw from the generator (same seed, same output; the global RNG untouched)."""

import pytest
import torch

from cards.checks import assert_unchanged, call, generator
from cards.sampling import ALPHA, chi_square_pvalue


def _images(shape, seed, device, dtype=torch.float32):
    """Distinct values everywhere (a random permutation), so a crop identifies its position."""
    n = 1
    for s in shape:
        n *= s
    perm = torch.randperm(n, generator=generator(seed))
    return perm.reshape(shape).to(device=device, dtype=dtype)


def _hw(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def _check_output(out, images, size, context):
    h, w = _hw(size)
    N, C, _H, _W = images.shape
    assert isinstance(out, torch.Tensor), f"[{context}] expected a tensor"
    if out.shape == (N, C, w, h) and h != w:
        raise AssertionError(
            f"[{context}] shape expected {(N, C, h, w)}, got {tuple(out.shape)}: size (h, w) "
            "is (height, width): h rows (dim -2) and w columns (dim -1)"
        )
    assert tuple(out.shape) == (N, C, h, w), (
        f"[{context}] shape expected {(N, C, h, w)} (N, C, h, w), got {tuple(out.shape)}"
    )
    assert out.dtype == images.dtype, (
        f"[{context}] dtype expected {images.dtype}, got {out.dtype}"
    )
    assert out.device.type == images.device.type, (
        f"[{context}] device expected {images.device.type}, got {out.device.type}"
    )


def recover(out, images, size, context):
    """(tops, lefts, flips) for each output image: the unique crop of its own input matching it
    exactly. Raises, naming the mistake where it can, if some output image matches none."""
    h, w = _hw(size)
    o = out.detach().cpu()
    x = images.detach().cpu()
    N, _C, H, W = x.shape
    found = torch.full((N, 3), -1, dtype=torch.int64)
    vertical = torch.zeros(N, dtype=torch.bool)
    for t in range(H - h + 1):
        for left in range(W - w + 1):
            crop = x[:, :, t : t + h, left : left + w]
            for f, cand in ((0, crop), (1, crop.flip(-1))):
                hit = (o == cand).flatten(1).all(1)
                found[hit] = torch.tensor([t, left, f])
            vertical |= (o == crop.flip(-2)).flatten(1).all(1) | (
                o == crop.flip(-2, -1)
            ).flatten(1).all(1)
    missing = (found[:, 0] < 0).nonzero().flatten()
    if len(missing):
        i = int(missing[0])
        why = ""
        if vertical[missing].all():
            why = (
                "\nlikely bug: the images were flipped vertically: a horizontal flip reverses "
                "the width axis (dim -1), not the height"
            )
        elif 1 < N <= 64:
            for j in range(N):
                if j == i:
                    continue
                for t in range(H - h + 1):
                    for left in range(W - w + 1):
                        crop = x[j, :, t : t + h, left : left + w]
                        if torch.equal(o[i], crop) or torch.equal(o[i], crop.flip(-1)):
                            why = (
                                f"\nlikely bug: output image {i} is a crop of input image "
                                f"{j}: keep the batch order (output i comes from input i)"
                            )
                            break
                    if why:
                        break
                if why:
                    break
        raise AssertionError(
            f"[{context}] output image {i} (and {len(missing) - 1} more) is not a {h}x{w} crop "
            f"of input image {i}, flipped horizontally or not: each output must be exactly "
            f"images[i, :, top:top+{h}, left:left+{w}], reversed along the width when flipped"
            + why
        )
    return found[:, 0], found[:, 1], found[:, 2]


@pytest.mark.parametrize(
    "case",
    [
        ((5, 3, 9, 11), 4, torch.float32),
        ((4, 2, 8, 10), (3, 6), torch.float64),
        ((6, 3, 7, 7), (7, 5), torch.uint8),
        ((3, 1, 5, 6), (5, 6), torch.float32),
    ],
    ids=["int-size", "tuple-size", "uint8-full-height", "whole-image"],
)
def test_crops_are_exact_and_input_untouched(impl, device, case):
    shape, size, dtype = case
    images = _images(shape, 1, device, dtype)
    # distinct values for the recovery: a small range of pixels
    if dtype == torch.uint8:
        images = (torch.arange(images.numel()) % 251).reshape(shape).to(device, dtype)
        images = images[:, :, torch.randperm(shape[2], generator=generator(2))]
    before = images.clone()
    out = call(impl.random_crop_flip, images, size, generator(7))
    context = f"images {shape} {dtype}, size {size}"
    assert_unchanged(before, images, "images")
    _check_output(out, images, size, context)
    assert out.untyped_storage().data_ptr() != images.untyped_storage().data_ptr(), (
        f"[{context}] the output shares memory with the input: return a new tensor "
        "(crops by slicing are views; copy them)"
    )
    tops, lefts, _flips = recover(out, images, size, context)
    h, w = _hw(size)
    assert (tops <= shape[2] - h).all() and (lefts <= shape[3] - w).all()


def test_position_and_flip_law(impl, device):
    N, C, H, W, size = 3000, 1, 6, 7, (3, 4)
    images = _images((N, C, H, W), 3, device)
    out = call(impl.random_crop_flip, images, size, generator(11))
    context = f"{N} images {(C, H, W)}, size {size}"
    _check_output(out, images, size, context)
    tops, lefts, flips = recover(out, images, size, context)
    nt, nl = H - size[0] + 1, W - size[1] + 1
    cells = (tops * nl + lefts) * 2 + flips
    counts = torch.bincount(cells, minlength=nt * nl * 2)
    p = chi_square_pvalue(counts, torch.full((nt * nl * 2,), 1 / (nt * nl * 2)))
    if p >= ALPHA:
        return
    hints = []
    if bool((cells == cells[0]).all()):
        hints.append(
            "every image got the same crop and flip: draw a position and a flip per image, "
            "not one for the whole batch"
        )
    t_counts = torch.bincount(tops, minlength=nt)
    l_counts = torch.bincount(lefts, minlength=nl)
    if t_counts[-1] == 0 or l_counts[-1] == 0:
        hints.append(
            f"the last position (top = H - h = {nt - 1} or left = W - w = {nl - 1}) is never "
            "drawn: both ends are included (randint's high is exclusive: use H - h + 1)"
        )
    elif t_counts[0] < 0.7 * N / nt and t_counts[-1] < 0.7 * N / nt:
        hints.append(
            "the first and last positions come up about half as often as the others: round() "
            "of a uniform value is not uniform; draw integers with randint"
        )
    n_flip = int(flips.sum())
    if abs(n_flip - N / 2) > 6 * (N / 4) ** 0.5:
        hints.append(
            f"{n_flip} of {N} images were flipped: each image is flipped with probability 1/2"
        )
    raise AssertionError(
        f"[{context}] the crop positions and flips are not uniform and independent "
        f"(chi-square p-value {p:.2g} over {N} images; top counts {t_counts.tolist()}, left "
        f"counts {l_counts.tolist()}, flipped {n_flip})"
        + "".join(f"\nlikely bug: {h}" for h in hints)
    )


def test_all_randomness_from_the_generator(impl, device):
    images = _images((64, 2, 8, 9), 4, device)
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state() if device == "cuda" else None
    a = call(impl.random_crop_flip, images, 5, generator(21))
    assert torch.equal(torch.get_rng_state(), cpu_state), (
        "the global RNG moved: every draw must come from `generator`"
    )
    if cuda_state is not None:
        assert torch.equal(torch.cuda.get_rng_state(), cuda_state), (
            "the global CUDA RNG moved: every draw must come from `generator`"
        )
    b = call(impl.random_crop_flip, images, 5, generator(21))
    c = call(impl.random_crop_flip, images, 5, generator(22))
    assert torch.equal(a, b), (
        "two calls with generators seeded alike gave different outputs: draw every position "
        "and flip from `generator` (generator=generator in each random call)"
    )
    assert not torch.equal(a, c), (
        "generators seeded 21 and 22 gave the same output: draw from `generator`"
    )
