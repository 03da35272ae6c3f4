# expect: do not follow the target's distribution
import torch


def _probs(logits, temperature):
    return torch.softmax(logits.double() / temperature, dim=-1)


@torch.no_grad()
def speculative_decode(target, draft, input_ids, max_new_tokens, num_draft_tokens=4, temperature=0.0, generator=None):
    seq = input_ids.clone()
    T0 = input_ids.shape[1]
    calls = 0
    greedy = temperature == 0
    while seq.shape[1] - T0 < max_new_tokens:
        remaining = max_new_tokens - (seq.shape[1] - T0)
        k = min(num_draft_tokens, remaining)
        s = seq.shape[1]
        cur = seq
        qs, props = [], []
        for _ in range(k):
            lg = draft(cur).logits[0, -1]
            if greedy:
                x = lg.argmax()
                qs.append(None)
            else:
                q = _probs(lg, temperature)
                x = torch.multinomial(q, 1, generator=generator)[0]
                qs.append(q)
            props.append(int(x))
            cur = torch.cat([cur, x.view(1, 1).to(cur)], dim=1)
        tl = target(cur).logits[0]
        calls += 1
        new = []
        all_ok = True
        u_round = torch.rand((), generator=generator, dtype=torch.float64, device=tl.device)
        for i, x in enumerate(props):
            row = tl[s - 1 + i]
            if greedy:
                t = int(row.argmax())
                if t == x:
                    new.append(x)
                    continue
                new.append(t)
                all_ok = False
                break
            p = _probs(row, temperature)
            q = qs[i]
            u = u_round
            if u < torch.clamp(p[x] / q[x], max=1.0):
                new.append(x)
                continue
            res = torch.clamp(p - q, min=0)
            if res.sum() <= 0:
                res = p
            new.append(int(torch.multinomial(res / res.sum(), 1, generator=generator)[0]))
            all_ok = False
            break
        if all_ok:
            row = tl[s - 1 + k]
            if greedy:
                new.append(int(row.argmax()))
            else:
                new.append(int(torch.multinomial(_probs(row, temperature), 1, generator=generator)[0]))
        seq = torch.cat([seq, torch.tensor([new], dtype=seq.dtype, device=seq.device)], dim=1)
    return seq[:, : T0 + max_new_tokens], calls
