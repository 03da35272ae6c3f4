# expect: uses banned `transformers`
import torch
import transformers.loss.loss_utils as lu


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    labels = input_ids.masked_fill(positions < lengths, -100)
    # bug: not from scratch, Hugging Face's causal LM loss does the shift and the mean
    return lu.ForCausalLMLoss(logits, labels, V)
