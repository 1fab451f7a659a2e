"""A tabular binary classifier: split first, then fit the scaler on the training split only."""
import random

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

SEED = 0
random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)

X, y = make_classification(n_samples=5000, n_features=20, random_state=SEED)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2, random_state=SEED)
scaler = StandardScaler()
X_train = scaler.fit_transform(X_train)
X_val = scaler.transform(X_val)
X_test = scaler.transform(X_test)

model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 1))
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
xt = torch.tensor(X_train, dtype=torch.float32)
yt = torch.tensor(y_train, dtype=torch.float32).unsqueeze(1)
xv = torch.tensor(X_val, dtype=torch.float32)
yv = torch.tensor(y_val, dtype=torch.float32).unsqueeze(1)


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        return criterion(model(x), y).item()


best = float("inf")
for epoch in range(50):
    model.train()
    perm = torch.randperm(len(xt))
    running = 0.0
    for i in range(0, len(xt), 64):
        idx = perm[i : i + 64]
        optimizer.zero_grad()
        loss = criterion(model(xt[idx]), yt[idx])
        loss.backward()
        optimizer.step()
        running += loss.item() * len(idx)
    val_loss = evaluate(model, xv, yv)
    if val_loss < best:
        best = val_loss
        torch.save(model.state_dict(), "best.pt")
print("test loss", evaluate(model, torch.tensor(X_test, dtype=torch.float32), torch.tensor(y_test, dtype=torch.float32).unsqueeze(1)))
