"""Buggy twin of healthy/accelerate_grad_accum.py: validation runs on the training loader; NLLLoss on raw scores."""
import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
accum_steps = 4
accelerator = Accelerator()
model = nn.Sequential(nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 10))
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
criterion = nn.NLLLoss()
train_loader = DataLoader(TensorDataset(torch.randn(512, 32), torch.randint(0, 10, (512,))), batch_size=16, shuffle=True)
val_loader = DataLoader(TensorDataset(torch.randn(128, 32), torch.randint(0, 10, (128,))), batch_size=64)
model, optimizer, train_loader, val_loader = accelerator.prepare(model, optimizer, train_loader, val_loader)


def evaluate(model, loader):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for x, y in loader:
            total += criterion(model(x), y).item()
    model.train()
    return total / len(loader)


for epoch in range(3):
    model.train()
    for step, (x, y) in enumerate(train_loader):
        loss = criterion(model(x), y) / accum_steps
        accelerator.backward(loss)
        if (step + 1) % accum_steps == 0:
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
    val_loss = evaluate(model, train_loader)
    accelerator.print(f"epoch {epoch} val loss {val_loss:.4f}")
