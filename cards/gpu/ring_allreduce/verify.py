"""Verifier for ring all-reduce: W ranks over gloo (the card kit's `run_world`), each calling the
attempt on its own tensor; every rank's tensor must then hold the sum (exactly for int64 and for
the bfloat16 inputs, which are chosen so that every order of additions is exact).

Each rank's call runs under the kit's `CommWatch`, which sees every c10d op the rank runs
whatever the Python spelling: the verifier fails any collective, messages to or from a rank that
is not the right ring neighbour, and more than 2(W - 1)·ceil(n/W) elements sent.
"""

import pytest
import torch

from cards.checks import call, generator
from cards.distributed import CommWatch, run_world


def _inputs(world: int, n: int, dtype, seed: int) -> list[torch.Tensor]:
    g = generator(seed)
    if dtype == torch.int64:
        # Near 2^60: a detour through float64 (53-bit mantissa) loses the low bits.
        return [
            torch.randint(-(2**60), 2**60, (n,), generator=g, dtype=torch.int64)
            for _ in range(world)
        ]
    if dtype == torch.bfloat16:
        # Multiples of 1/8 in [-4, 4]: every partial sum of up to 4 of them is exact in bf16,
        # so any order of additions gives the same, exact, result.
        return [
            (torch.randint(-32, 33, (n,), generator=g) / 8).to(torch.bfloat16)
            for _ in range(world)
        ]
    return [
        torch.randn(n, generator=g, dtype=torch.float64).to(dtype) for _ in range(world)
    ]


def _rank(rank, world, impl, inputs):
    """In a rank: the attempt's call on a copy of this rank's input, watched."""
    tensor = inputs[rank].clone()
    with CommWatch() as watch:
        out = call(impl.ring_allreduce, tensor)
    returned = out if isinstance(out, torch.Tensor) else None
    return tensor, returned, watch.summary()


def _limit(world: int, n: int) -> int:
    return 2 * (world - 1) * -(-n // world)


def _check_traffic(rank, world, n, comm, context):
    if comm["collectives"]:
        op, line = comm["collectives"][0]
        where = f" (your line {line})" if line else ""
        raise AssertionError(
            f"rank {rank} [{context}]: ran the collective `{op}`{where}: every collective is "
            "banned here; pass chunks with dist.send/recv (or isend/irecv) only"
        )
    right, left = (rank + 1) % world, (rank - 1) % world
    sent, received = set(comm["peers_sent"]), set(comm["peers_received"])
    ring = (sent <= {right} and received <= {left}) or (
        sent <= {left} and received <= {right}
    )
    assert ring, (
        f"rank {rank} [{context}]: sent to ranks {sorted(sent)} and received from ranks "
        f"{sorted(received)}; in a ring each rank sends only to one neighbour and receives "
        f"only from the other (rank {rank} of {world}: to {right}, from {left}, or the "
        "other way round)"
    )
    limit = _limit(world, n)
    assert comm["sent"] <= limit, (
        f"rank {rank} [{context}]: sent {comm['sent']} elements; a ring all-reduce sends at "
        f"most 2(W - 1)·ceil(n/W) = {limit} (reduce-scatter, then all-gather, in chunks of "
        f"ceil(n/W) = {-(-n // world)}). Passing the whole tensor around the ring sends "
        f"(W - 1)·n = {(world - 1) * n}: split it into W chunks"
    )


def _check_values(rank, world, inputs, tensor, returned, context):
    dtype, n = inputs[0].dtype, inputs[0].numel()
    if dtype == torch.int64:
        # int64 addition: exact (wraps like the ring's)
        expected = torch.stack(inputs).sum(0)
    else:
        expected = torch.stack([t.double() for t in inputs]).sum(0).to(dtype)
    exact = dtype in (torch.int64, torch.bfloat16)
    assert tensor.dtype == dtype and tensor.shape == inputs[rank].shape, (
        f"rank {rank} [{context}]: the tensor changed to dtype {tensor.dtype}, shape "
        f"{tuple(tensor.shape)}"
    )

    def equal(a, b):
        if exact:
            return a == b
        return torch.isclose(a.double(), b.double(), rtol=1e-5, atol=1e-6)

    ok = equal(tensor, expected)
    if bool(ok.all()):
        return
    mine = inputs[rank]
    if world > 1 and n and torch.equal(tensor, mine):
        got_it = returned is not None and returned.shape == expected.shape
        if got_it and bool(equal(returned.to(dtype), expected).all()):
            why = "it returned the sum in a new tensor instead"
        else:
            why = (
                "it still holds this rank's input (nothing reached it: sums written into "
                "copies instead of the tensor's own chunks, or chunk indices or sizes that "
                "miss every element)"
            )
        raise AssertionError(
            f"rank {rank} [{context}]: the tensor does not hold the sum: {why}. Sum in place, "
            "as dist.all_reduce does: write the result into the tensor you were given"
        )
    size = -(-n // world)
    bad = (~ok).nonzero().flatten()
    tail = world * (n // world)
    detail = ""
    tail_untouched = torch.equal(tensor[tail:], mine[tail:])
    if n % world and n >= world and bool((bad >= tail).all()) and tail_untouched:
        detail = (
            f"\nlikely bug: only the elements past {tail} = W·floor(n/W) are wrong: chunks of "
            f"floor(n/W) = {n // world} drop the tail; use ceil(n/W) = {size} (the last chunks "
            "shorter, or empty when n < W)"
        )
    elif world > 1 and 0 < int(ok.sum()) <= size and n >= world:
        detail = (
            f"\nlikely bug: only {int(ok.sum())} of {n} elements hold the full sum, about one "
            "chunk: the all-gather phase is missing or incomplete (W - 1 more steps must pass "
            "each finished chunk around the ring), or the sums were written into copies "
            "(chunk = chunk + buf rebinds a name; chunk.add_(buf) writes into the tensor)"
        )
    elif dtype == torch.int64:
        through_float = torch.stack([t.double() for t in inputs]).sum(0).long()
        if bool(((tensor - through_float).abs() < 2**12).all()):
            detail = (
                "\nlikely bug: the int64 sum went through floating point and lost its low "
                "bits: keep the tensor's dtype for the buffers and the additions"
            )
    i = int(bad[0])
    raise AssertionError(
        f"rank {rank} [{context}]: {len(bad)} of {n} elements are not the sum over ranks; "
        f"first at index {i}: got {tensor[i].item()}, expected {expected[i].item()}"
        + detail
    )


def _run(impl, world, n, dtype, seed):
    inputs = _inputs(world, n, dtype, seed)
    context = f"{world} ranks, {dtype} tensor of {n} elements"
    results = run_world(_rank, world, impl, inputs, what=context)
    for rank, (tensor, returned, comm) in enumerate(results):
        _check_traffic(rank, world, n, comm, context)
    for rank, (tensor, returned, comm) in enumerate(results):
        _check_values(rank, world, inputs, tensor, returned, context)


@pytest.mark.parametrize(("world", "n"), [(2, 8), (4, 64)])
def test_sums_in_place(impl, device, world, n):
    _run(impl, world, n, torch.float32, seed=world * 100 + n)


@pytest.mark.parametrize(("world", "n"), [(3, 10), (4, 6)])
def test_lengths_not_divisible_by_the_world_size(impl, device, world, n):
    # (4, 6): torch.chunk gives 3 chunks of 2, not 4; tensor_split gives 2, 2, 1, 1.
    _run(impl, world, n, torch.float32, seed=world * 100 + n)


@pytest.mark.parametrize(("world", "n"), [(4, 3), (3, 1)])
def test_fewer_elements_than_ranks(impl, device, world, n):
    _run(impl, world, n, torch.float64, seed=world * 100 + n)


def test_one_rank(impl, device):
    _run(impl, 1, 5, torch.float32, seed=1)


@pytest.mark.parametrize(("world", "n"), [(3, 11)])
def test_bfloat16(impl, device, world, n):
    _run(impl, world, n, torch.bfloat16, seed=world * 100 + n)


@pytest.mark.parametrize(("world", "n"), [(4, 10)])
def test_int64_is_exact(impl, device, world, n):
    _run(impl, world, n, torch.int64, seed=world * 100 + n)


def _twice(rank, world, impl, first, second):
    a, b = first[rank].clone(), second[rank].clone()
    call(impl.ring_allreduce, a)
    with CommWatch() as watch:
        call(impl.ring_allreduce, b)
    return b, None, watch.summary()


def test_second_call_on_other_data(impl, device):
    # Two calls in a row on one rank (other lengths): nothing may carry over between calls.
    world = 3
    first = _inputs(world, 7, torch.float32, seed=5)
    second = _inputs(world, 13, torch.float32, seed=6)
    context = "3 ranks, second call, float32 tensor of 13 elements"
    results = run_world(_twice, world, impl, first, second, what=context)
    for rank, (tensor, returned, comm) in enumerate(results):
        _check_traffic(rank, world, 13, comm, context)
        _check_values(rank, world, second, tensor, returned, context)
