# expect: load_checkpoint changed the model's train/eval mode
import torch


def save_checkpoint(path, model, optimizer, epoch):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    model.train()  # bug: "ready to resume training", but the caller's mode is the caller's
    return ckpt["epoch"]
