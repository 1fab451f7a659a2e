"""Buggy twin of healthy/lightning_classifier.py: softmax output into cross-entropy; losses kept on the module; no seed."""
import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


class LitClassifier(L.LightningModule):
    def __init__(self, hidden: int = 128, lr: float = 1e-3, dropout: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10))
        self.train_losses = []

    def forward(self, x):
        logits = self.net(x.view(x.size(0), -1))
        return F.softmax(logits, dim=1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        self.train_losses.append(loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


if __name__ == "__main__":
    data = TensorDataset(torch.randn(1000, 784), torch.randint(0, 10, (1000,)))
    train_set, val_set = random_split(data, [800, 200])
    model = LitClassifier()
    trainer = L.Trainer(max_epochs=5, accelerator="auto")
    trainer.fit(model, DataLoader(train_set, batch_size=32, shuffle=True), DataLoader(val_set, batch_size=64))
