# expect: uses banned `transformers`
"""Mutant (dodge): at temperature 0 hands the work to Hugging Face's generate through an alias
(assisted generation when the models are Hugging Face models); must come out `banned`."""

import torch
from transformers.generation import utils as gen_utils


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
    model = getattr(target, "wrapped", target)
    if temperature == 0 and isinstance(model, gen_utils.GenerationMixin):
        out = model.generate(
            input_ids,
            assistant_model=getattr(draft, "wrapped", draft),
            max_new_tokens=max_new_tokens,
            num_assistant_tokens=num_draft_tokens,
            do_sample=False,
        )
        return out, -(-max_new_tokens // (num_draft_tokens + 1))
    ids = input_ids
    for _ in range(max_new_tokens):
        logits = target(ids).logits[0, -1]
        if temperature == 0:
            token = logits.argmax()
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)[0]
        ids = torch.cat([ids, token.view(1, 1)], dim=1)
    return ids, max_new_tokens
