"""Training with a DeepSpeed engine: engine.backward(loss) and engine.step() (which clears the gradients)."""
import argparse

import deepspeed
import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--local_rank", type=int, default=-1)
parser = deepspeed.add_config_arguments(parser)
args = parser.parse_args()
torch.manual_seed(1234)

model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 8))
model_engine, optimizer, trainloader, _ = deepspeed.initialize(args=args, model=model, model_parameters=model.parameters(), training_data=None)
criterion = nn.CrossEntropyLoss()
batches = [(torch.randn(16, 64), torch.randint(0, 8, (16,))) for _ in range(100)]

for epoch in range(2):
    for step, (x, y) in enumerate(batches):
        x, y = x.to(model_engine.device), y.to(model_engine.device)
        loss = criterion(model_engine(x), y)
        model_engine.backward(loss)
        model_engine.step()
        if step % 10 == 0:
            print(epoch, step, loss.item())
