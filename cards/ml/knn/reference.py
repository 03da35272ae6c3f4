"""k-nearest-neighbours classification: Euclidean distance, unweighted majority vote, ties to
the smaller label."""

import torch


def knn_predict(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, k: int
) -> torch.Tensor:
    # Squared distances rank like distances (no sqrt needed): (m, n), by broadcasting.
    d2 = (test_x[:, None, :] - train_x[None, :, :]).pow(2).sum(-1)
    idx = d2.topk(k, dim=1, largest=False).indices  # (m, k): smallest, not largest
    votes = train_y[idx]  # (m, k) labels of the neighbours
    num_classes = int(train_y.max()) + 1
    counts = torch.zeros(
        votes.shape[0], num_classes, dtype=torch.long, device=votes.device
    )
    counts.scatter_add_(1, votes, torch.ones_like(votes))  # (m, C) votes per label
    # argmax returns the first maximum: among tied labels, the smallest one.
    return counts.argmax(dim=1).to(torch.int64)
