"""Buggy twin of healthy/resnet_imagenet.py: model.train() is never called again after evaluate(); Adam at lr 0.1."""
import argparse
import time

import torch
import torch.utils.data
import torchvision
from torch import nn


def train_one_epoch(model, criterion, optimizer, data_loader, device, epoch, args, scaler=None):
    for i, (image, target) in enumerate(data_loader):
        start_time = time.time()
        image, target = image.to(device), target.to(device)
        with torch.autocast("cuda", enabled=scaler is not None):
            output = model(image)
            loss = criterion(output, target)
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            if args.clip_grad_norm is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if i % args.print_freq == 0:
            print(f"epoch {epoch} iter {i} loss {loss.item():.4f} {time.time() - start_time:.3f}s")


def evaluate(model, criterion, data_loader, device):
    model.eval()
    total, correct = 0, 0
    with torch.inference_mode():
        for image, target in data_loader:
            image, target = image.to(device, non_blocking=True), target.to(device, non_blocking=True)
            output = model(image)
            loss = criterion(output, target)
            correct += (output.argmax(1) == target).sum().item()
            total += target.numel()
    acc = correct / total
    print(f"Acc@1 {acc:.3f}")
    return acc


def main(args):
    torch.manual_seed(args.seed)
    if args.use_deterministic_algorithms:
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)
    device = torch.device(args.device)
    dataset = torchvision.datasets.ImageFolder(args.train_dir)
    dataset_test = torchvision.datasets.ImageFolder(args.val_dir)
    data_loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    data_loader_test = torch.utils.data.DataLoader(dataset_test, batch_size=args.batch_size)
    model = torchvision.models.resnet50(weights=None, num_classes=1000)
    model.to(device)
    model.train()
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, weight_decay=args.weight_decay)
    scaler = torch.cuda.amp.GradScaler() if args.amp else None
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.lr_step_size, gamma=args.lr_gamma)
    for epoch in range(args.start_epoch, args.epochs):
        train_one_epoch(model, criterion, optimizer, data_loader, device, epoch, args, scaler)
        lr_scheduler.step()
        evaluate(model, criterion, data_loader_test, device=device)
        torch.save({"model": model.state_dict(), "epoch": epoch}, f"model_{epoch}.pth")


def get_args_parser():
    parser = argparse.ArgumentParser(description="PyTorch Classification Training")
    parser.add_argument("--lr", default=0.1, type=float)
    parser.add_argument("--momentum", default=0.9, type=float)
    parser.add_argument("--weight-decay", default=1e-4, type=float)
    parser.add_argument("--label-smoothing", default=0.0, type=float)
    parser.add_argument("--seed", default=0, type=int)
    parser.add_argument("--use-deterministic-algorithms", action="store_true", help="Forces the use of deterministic algorithms only.")
    return parser


if __name__ == "__main__":
    main(get_args_parser().parse_args())
