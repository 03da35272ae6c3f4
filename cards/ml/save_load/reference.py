"""Training checkpoints: everything needed to resume training exactly, in one file.

The model's state dict holds parameters *and* buffers (BatchNorm's running statistics); the
optimiser's holds its per-parameter state (momentum, Adam moments, step counts) and its param
groups (lr and the other hyperparameters, as edited during the run)."""

import torch


def save_checkpoint(path, model, optimizer, epoch):
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": int(epoch),
        },
        path,
    )


def load_checkpoint(path, model, optimizer):
    # Load into the caller's objects in place (rebinding `model` here would change nothing for
    # the caller); load_state_dict leaves train/eval mode as it is.
    checkpoint = torch.load(path, map_location="cpu")
    model.load_state_dict(checkpoint["model"])  # strict: every key, buffers included
    # casts state to the params' device
    optimizer.load_state_dict(checkpoint["optimizer"])
    return int(checkpoint["epoch"])
