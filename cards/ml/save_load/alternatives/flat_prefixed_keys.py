"""One flat dict with prefixed keys, loaded with weights_only=True onto the CPU; the model part
is split back out by prefix and loaded strictly."""

import torch


def save_checkpoint(path, model, optimizer, epoch):
    flat = {f"model/{k}": v for k, v in model.state_dict().items()}
    flat["optimizer"] = optimizer.state_dict()
    flat["epoch"] = epoch
    with open(path, "wb") as f:
        torch.save(flat, f)


def load_checkpoint(path, model, optimizer):
    with open(path, "rb") as f:
        flat = torch.load(f, map_location="cpu", weights_only=True)
    model_sd = {
        k[len("model/") :]: v for k, v in flat.items() if k.startswith("model/")
    }
    missing, unexpected = model.load_state_dict(model_sd, strict=True)
    assert not missing and not unexpected
    optimizer.load_state_dict(flat["optimizer"])
    return int(flat["epoch"])
