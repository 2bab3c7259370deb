"""A PyTorch DDP training script: a small CNN learns to tell apart classes
of synthetic 28x28 "images" that it generates from a seed (no downloads).

It is an ordinary torchrun-style script: it reads RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT from the environment and starts
torch.distributed itself (gloo on CPU, nccl where CUDA is available).
Under rayo's TorchTrainer (examples/train/torch/main.go) it also reports
each epoch's metrics and, on rank 0, a checkpoint through rayo.train, and
resumes from the checkpoint a restarted group is given. Launched by hand
(torchrun's variables set, or none for a single process) it trains the
same way and reports nothing:

    python3 train.py --epochs 3
"""
import argparse
import os
import signal
import tempfile
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch-size", type=int, default=64, help="samples per step on each rank")
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--samples", type=int, default=4096, help="training samples (a quarter as many more to validate on)")
p.add_argument("--classes", type=int, default=4)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--kill-rank", type=int, default=-1, help="rank that SIGKILLs itself in --kill-epoch on the first attempt")
p.add_argument("--kill-epoch", type=int, default=0, help="epoch (1-based) in which --kill-rank dies")
p.add_argument("--device-check", action="store_true",
               help="print and report what CUDA this rank sees; fail if CUDA is available and it sees more than one GPU")
a = p.parse_args()

# A single process when launched with no torchrun variables at all.
for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
    os.environ.setdefault(k, v)
rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])

try:  # rayo.train is there under TorchTrainer; by hand it is absent or raises
    import rayo.train as rt
    ckpt = rt.get_checkpoint()
except (ImportError, RuntimeError):  # RuntimeError: rayo.train.NotInWorkerError
    rt = ckpt = None

if torch.cuda.is_available():
    # rayo gives each worker exactly its GPU (CUDA_VISIBLE_DEVICES), so
    # there it is cuda:0; under torchrun every rank sees every GPU.
    backend, device = "nccl", torch.device("cuda", local_rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
else:
    backend, device = "gloo", torch.device("cpu")

check = {}
if a.device_check:
    check = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"),
             "cuda_device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0, "device": str(device)}
    ok = not torch.cuda.is_available() or check["cuda_device_count"] == 1
    print("device check: %s CUDA_VISIBLE_DEVICES=%s device_count=%d device=%s%s" % (
        "ok" if ok else "FAIL", check["cuda_visible_devices"], check["cuda_device_count"], device,
        "" if ok else " (want exactly one GPU per worker)"), flush=True)
    if not ok:
        raise SystemExit(3)

dist.init_process_group(backend)


def make_data(n, classes, seed):
    """n images of the classes: each class is a smooth random pattern,
    seen at a random brightness, shifted by up to 3 pixels, in noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = F.interpolate(torch.randn(classes, 1, 7, 7, generator=g), size=28, mode="bilinear", align_corners=False)
    y = torch.randint(classes, (n,), generator=g)
    x = patterns[y] * (0.5 + torch.rand(n, 1, 1, 1, generator=g))
    shifts = torch.randint(-3, 4, (n, 2), generator=g)
    for i in range(n):
        x[i] = torch.roll(x[i], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2))
    return x + 1.5 * torch.randn(x.shape, generator=g), y


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)   # 28x28 -> pool -> 14x14
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)  # 14x14 -> pool -> 7x7
        self.fc = nn.Linear(16 * 7 * 7, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


# Every rank makes the same data from the seed; the sampler gives each
# its share of every epoch.
x, y = make_data(a.samples + a.samples // 4, a.classes, a.seed)
train_set = TensorDataset(x[:a.samples], y[:a.samples])
val_x, val_y = x[a.samples:][rank::world].to(device), y[a.samples:][rank::world].to(device)
sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=a.seed)
loader = DataLoader(train_set, batch_size=a.batch_size, sampler=sampler)

torch.manual_seed(a.seed)
model = Net(a.classes).to(device)
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
start = 1
if ckpt is not None:
    state = torch.load(os.path.join(ckpt.path, "state.pt"), map_location=device)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    start = state["epoch"] + 1
ddp = DDP(model, device_ids=[device] if device.type == "cuda" else None)

print("rank %d of %d: %s on %s, %d of %d training samples an epoch, epochs %d to %d%s" % (
    rank, world, backend, device, len(sampler), a.samples, start, a.epochs,
    " (resumed from a checkpoint)" if ckpt is not None else ""), flush=True)

for epoch in range(start, a.epochs + 1):
    t0 = time.time()
    sampler.set_epoch(epoch)
    ddp.train()
    total = torch.zeros(2, device=device)  # summed loss, batches
    for i, (xb, yb) in enumerate(loader):
        if (rank == a.kill_rank and epoch == a.kill_epoch and i == len(loader) // 2
                and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"):
            print("killing myself (SIGKILL) in epoch %d, as --kill-rank/--kill-epoch ask" % epoch, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = F.cross_entropy(ddp(xb), yb)
        loss.backward()
        opt.step()
        total += torch.stack([loss.detach(), torch.ones((), device=device)])

    ddp.eval()
    with torch.no_grad():
        right = (model(val_x).argmax(1) == val_y).sum()
    # Every rank's numbers, summed: all ranks report the same metrics.
    sums = torch.cat([total, torch.stack([right.float(), torch.tensor(float(len(val_y)), device=device)])])
    dist.all_reduce(sums)
    metrics = {"epoch": epoch, "loss": (sums[0] / sums[1]).item(), "accuracy": (sums[2] / sums[3]).item(),
               "classes": a.classes, "backend": backend, "seconds": time.time() - t0, **check}
    if rank == 0:
        print("epoch %d: loss %.4f, validation accuracy %.4f" % (epoch, metrics["loss"], metrics["accuracy"]), flush=True)
    if rt is None:
        continue
    if rank != 0:
        rt.report(metrics)
        continue
    # rank 0 holds the same state as every rank: it alone checkpoints.
    with tempfile.TemporaryDirectory() as d:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch}, os.path.join(d, "state.pt"))
        rt.report(metrics, checkpoint=d)  # the files are taken when it returns

dist.destroy_process_group()
