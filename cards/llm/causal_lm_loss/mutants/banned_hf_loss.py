# expect: uses banned `transformers`
from transformers.loss.loss_utils import ForCausalLMLoss


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    # bug: not from scratch, Hugging Face's own loss function
    return ForCausalLMLoss(logits, input_ids, logits.shape[-1], ignore_index=ignore_index)
