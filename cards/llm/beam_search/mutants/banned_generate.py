# expect: uses banned `transformers.generation.utils.GenerationMixin.generate`
import torch


def beam_search(
    model, input_ids, num_beams, max_new_tokens, eos_token_id=None, length_penalty=1.0
):
    gen = model.generate  # bug: dodge, the model's own beam search
    return gen(
        input_ids,
        attention_mask=torch.ones_like(input_ids),
        num_beams=num_beams,
        do_sample=False,
        early_stopping=True,
        length_penalty=length_penalty,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
