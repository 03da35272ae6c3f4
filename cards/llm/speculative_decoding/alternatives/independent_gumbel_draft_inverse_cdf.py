# Written independently of this card's verifier, from the contract alone.
# Speculative decoding (Leviathan et al. 2023 / Chen et al. 2023) without caches: every call
# re-runs a model on the whole current sequence. Each round the draft proposes
# k = min(num_draft_tokens, remaining - 1) tokens, the target scores them all in one call
# (target_calls counts only these calls), and:
#   - temperature 0: accept the longest prefix on which the draft matches the target's argmax,
#     then append the target's own argmax at the first mismatch (or the bonus position);
#   - temperature > 0: accept draft token x with probability min(1, p(x) / q(x)) (u * q < p with
#     u ~ U[0, 1)); on the first rejection draw from normalise(max(p - q, 0)); if all k are accepted,
#     draw a bonus token from the target's next distribution.
# Use of the generator (the contract leaves it open): draft tokens are drawn by Gumbel-max with
# uniforms from `generator`, acceptance uses one uniform per draft token, and the residual / bonus
# draws use inverse-CDF sampling with one uniform each.
import torch


def _logits(model, ids):
    out = model(ids)
    return out.logits if hasattr(out, "logits") else out


def _probs(logits, temperature):
    return torch.softmax(logits.float() / temperature, dim=-1)


def _uniform(generator, device):
    return torch.rand((), generator=generator, device=device)


def _inverse_cdf(probs, generator):
    cdf = probs.cumsum(-1)
    u = _uniform(generator, probs.device) * cdf[-1]
    idx = int(
        torch.searchsorted(cdf, u.reshape(1), right=True).clamp(max=probs.numel() - 1)
    )
    while probs[idx] <= 0 and idx > 0:  # rounding at the top end
        idx -= 1
    return idx


def _gumbel_sample(probs, generator):
    u = torch.rand(probs.shape, generator=generator, device=probs.device).clamp(
        1e-20, 1 - 1e-7
    )
    return int((probs.log() - torch.log(-torch.log(u))).argmax())


@torch.no_grad()
def speculative_decode(
    target,
    draft,
    input_ids,
    max_new_tokens,
    num_draft_tokens=4,
    temperature=0.0,
    generator=None,
):
    assert input_ids.shape[0] == 1
    seq = input_ids
    n0 = input_ids.shape[1]
    target_calls = 0
    greedy = temperature == 0
    while seq.shape[1] - n0 < max_new_tokens:
        remaining = max_new_tokens - (seq.shape[1] - n0)
        k = max(0, min(num_draft_tokens, remaining - 1))
        drafted, q_list = [], []
        cur = seq
        for _ in range(k):
            dl = _logits(draft, cur)[0, -1]
            if greedy:
                tok = int(dl.argmax())
            else:
                q = _probs(dl, temperature)
                tok = _gumbel_sample(q, generator)
                q_list.append(q)
            drafted.append(tok)
            cur = torch.cat([cur, cur.new_tensor([[tok]])], dim=1)
        L = seq.shape[1]
        # (k + 1, V): next-token logits at each slot
        tl = _logits(target, cur)[0, L - 1 : L + k]
        target_calls += 1
        new = []
        if greedy:
            tgt = tl.argmax(-1).tolist()
            i = 0
            while i < k and drafted[i] == tgt[i]:
                new.append(drafted[i])
                i += 1
            new.append(tgt[i])
        else:
            p_all = _probs(tl, temperature)
            rejected = False
            for i, tok in enumerate(drafted):
                p, q = p_all[i], q_list[i]
                if _uniform(generator, p.device) * q[tok] < p[tok]:
                    new.append(tok)
                    continue
                resid = torch.clamp(p - q, min=0)
                if float(resid.sum()) <= 0:
                    resid = p
                new.append(_inverse_cdf(resid / resid.sum(), generator))
                rejected = True
                break
            if not rejected:
                new.append(_inverse_cdf(p_all[k], generator))
        seq = torch.cat([seq, seq.new_tensor([new])], dim=1)
    return seq[:, : n0 + max_new_tokens], target_calls
