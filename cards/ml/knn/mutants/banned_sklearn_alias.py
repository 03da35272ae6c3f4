# expect: uses banned `sklearn`
import torch
from sklearn.neighbors import KNeighborsClassifier as KNN


def knn_predict(train_x, train_y, test_x, k):
    model = KNN(n_neighbors=k).fit(train_x.cpu().numpy(), train_y.cpu().numpy())  # bug: library
    return torch.as_tensor(model.predict(test_x.cpu().numpy()), device=test_x.device)
