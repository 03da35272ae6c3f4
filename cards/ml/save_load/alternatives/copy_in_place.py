# By the card's author.
# The tensors of the model's state dict are overwritten in place (state_dict() returns the live
# parameters and buffers), the optimiser through its own load_state_dict; the epoch is stored as
# a plain Python int.
import torch


def save_checkpoint(path, model, optimizer, epoch):
    payload = {
        "epoch": int(epoch),
        "model_state": {
            k: v.detach().cpu().clone() for k, v in model.state_dict().items()
        },
        "optim_state": optimizer.state_dict(),
    }
    torch.save(payload, path)


def load_checkpoint(path, model, optimizer):
    payload = torch.load(path, map_location=torch.device("cpu"))
    live = model.state_dict()
    saved = payload["model_state"]
    if set(live) != set(saved):
        raise KeyError("checkpoint does not match the model")
    with torch.no_grad():
        for key, tensor in live.items():
            tensor.copy_(saved[key])
    optimizer.load_state_dict(payload["optim_state"])
    return payload["epoch"]
