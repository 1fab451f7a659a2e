"""A small transformer language model trained from scratch: logits into cross-entropy, clipping, determinism when asked."""
import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--deterministic", action="store_true", help="make the run reproducible")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)
if args.deterministic:
    torch.use_deterministic_algorithms(True)


class TinyTransformerLM(nn.Module):
    def __init__(self, vocab=1000, d=128, heads=4, layers=2, ctx=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx):
        t = idx.size(1)
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        h = self.tok(idx) + self.pos(torch.arange(t))
        h = self.encoder(h, mask=mask)
        return self.head(h)


model = TinyTransformerLM()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
data = torch.randint(0, 1000, (256, 65))
for step in range(200):
    batch = data[torch.randint(0, 256, (16,))]
    x, y = batch[:, :-1], batch[:, 1:]
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, 1000), y.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step % 20 == 0:
        print(step, loss.item(), math.exp(loss.item()))
