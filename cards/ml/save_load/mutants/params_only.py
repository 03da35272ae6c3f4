# expect: buffer `1.running_mean` was not restored
import torch


def save_checkpoint(path, model, optimizer, epoch):
    # bug: named_parameters() leaves out the buffers (BatchNorm's running statistics)
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    torch.save({"model": params, "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path)
    model.load_state_dict(ckpt["model"], strict=False)  # and strict=False hides it
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["epoch"]
