# expect: uses banned `sklearn`
import torch
from sklearn import linear_model as lm


def fit_linear_probe(features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0):
    clf = lm.LogisticRegression(C=1.0 / max(weight_decay, 1e-6) / len(labels))  # bug: library
    clf.fit(features.detach().cpu().numpy(), labels.cpu().numpy())
    W = torch.as_tensor(clf.coef_, dtype=features.dtype, device=features.device)
    b = torch.as_tensor(clf.intercept_, dtype=features.dtype, device=features.device)
    return W, b
