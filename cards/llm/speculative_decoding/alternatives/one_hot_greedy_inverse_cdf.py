"""Alternative: one code path for every temperature (temperature 0 turns the distributions into
one-hot vectors, so the rejection rule itself accepts exactly the target's argmax), sampling by
inverse CDF with torch.rand, float64 probabilities, always k proposals and a final cut."""

import torch


def _dist(logits, temperature):
    logits = logits.double()
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.shape[-1]).double()
    return torch.softmax(logits / temperature, dim=-1)


def _draw(weights, generator):
    cdf = torch.cumsum(weights, dim=0)
    u = torch.rand((), dtype=torch.float64, generator=generator, device=weights.device)
    index = torch.searchsorted(cdf, u * cdf[-1], right=True)
    return index.clamp(max=len(weights) - 1)


def speculative_decode(
    target,
    draft,
    input_ids,
    max_new_tokens,
    num_draft_tokens=4,
    temperature=0.0,
    generator=None,
):
    T = input_ids.shape[1]
    tokens = input_ids[0].tolist()
    calls = 0
    with torch.no_grad():
        while len(tokens) - T < max_new_tokens:
            proposals, qs = [], []
            for _ in range(num_draft_tokens):
                ids = torch.tensor([tokens + proposals], device=input_ids.device)
                q = _dist(draft(ids).logits[0, -1], temperature)
                proposals.append(int(_draw(q, generator)))
                qs.append(q)
            ids = torch.tensor([tokens + proposals], device=input_ids.device)
            rows = target(ids).logits[0, len(tokens) - 1 :]
            calls += 1
            for i, x in enumerate(proposals):
                p = _dist(rows[i], temperature)
                if p[x] >= qs[i][x]:
                    tokens.append(x)
                    continue
                u = torch.rand(
                    (), dtype=torch.float64, generator=generator, device=p.device
                )
                if u * qs[i][x] < p[x]:
                    tokens.append(x)
                    continue
                tokens.append(int(_draw((p - qs[i]).clamp(min=0), generator)))
                break
            else:
                tokens.append(int(_draw(_dist(rows[-1], temperature), generator)))
    out = torch.tensor([tokens[: T + max_new_tokens]], device=input_ids.device)
    return out, calls
