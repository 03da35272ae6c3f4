# Written from the contract alone, by a writer who had not read this card's verifier.
import copy

import torch


def _to_cpu(obj):
    # deep-copy a (possibly nested) state dict with every tensor moved to the CPU
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


def save_checkpoint(path, model, optimizer, epoch):
    """Store a device-independent snapshot (all tensors on the CPU) of the
    model and optimiser state dicts plus the epoch as a plain int."""
    payload = {
        "format": 1,
        "epoch": int(epoch),
        "model_state": _to_cpu(model.state_dict()),
        "optim_state": _to_cpu(optimizer.state_dict()),
    }
    torch.save(payload, path)


def load_checkpoint(path, model, optimizer):
    """Load with weights_only=True onto the CPU; load_state_dict copies the
    model tensors into place on the model's device, and the optimiser moves its
    state to each parameter's device itself. The module's train/eval flag is
    not touched."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["model_state"], strict=True)
    optimizer.load_state_dict(payload["optim_state"])
    return int(payload["epoch"])
