"""A sentiment LSTM in a plain loop: clipping, seeds, train()/eval() switches, .item() accumulation."""
import random

import numpy as np
import torch
from torch import nn

random.seed(7)
np.random.seed(7)
torch.manual_seed(7)


class LSTMClassifier(nn.Module):
    def __init__(self, vocab: int, emb: int = 128, hidden: int = 256, classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, num_layers=2, dropout=0.3)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        out, (h, c) = self.lstm(self.embedding(x))
        return self.fc(self.dropout(h[-1]))


model = LSTMClassifier(vocab=20000)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
train_batches = [(torch.randint(1, 20000, (32, 100)), torch.randint(0, 2, (32,))) for _ in range(20)]
valid_batches = [(torch.randint(1, 20000, (32, 100)), torch.randint(0, 2, (32,))) for _ in range(5)]
indices = np.arange(len(train_batches))

for epoch in range(10):
    model.train()
    np.random.shuffle(indices)
    epoch_loss = 0.0
    for i in indices:
        text, label = train_batches[i]
        optimizer.zero_grad()
        predictions = model(text)
        loss = criterion(predictions, label)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
        optimizer.step()
        epoch_loss += loss.item()
    model.eval()
    with torch.no_grad():
        valid_loss = sum(criterion(model(t), l).item() for t, l in valid_batches) / len(valid_batches)
    print(f"epoch {epoch}: train {epoch_loss / len(train_batches):.3f} valid {valid_loss:.3f}")
