"""A small DDP training script, unmodified for rayo: it runs under
TorchTrainer and under torchrun's environment launched by hand (the
reference). With rayo.train present it reports each step, checkpoints
every --ckpt-every steps (rank 0) and resumes from the checkpoint."""
import argparse
import json
import os
import signal
import tempfile
import time

t0 = time.time()
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=20)
p.add_argument("--ckpt-every", type=int, default=5)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--rows", type=int, default=1024)
p.add_argument("--hidden", type=int, default=32)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--die-rank", type=int, default=-1)
p.add_argument("--die-step", type=int, default=-1)
p.add_argument("--out", required=True)
a = p.parse_args()

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group("gloo")
torch.manual_seed(0)
torch.set_num_threads(1)
model = torch.nn.Sequential(torch.nn.Linear(8, a.hidden), torch.nn.Tanh(), torch.nn.Linear(a.hidden, 1))
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)

start = 0
try:  # under TorchTrainer; launched by hand, rayo.train is absent or idle
    import rayo.train as train

    ck = train.get_checkpoint()
except (ImportError, RuntimeError):
    train = ck = None
if ck is not None:
    state = torch.load(os.path.join(ck.path, "state.pt"))
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    start = state["step"] + 1
ddp = DDP(model)

g = torch.Generator().manual_seed(1234)
X = torch.randn(a.rows, 8, generator=g)
y = torch.tanh(X @ torch.randn(8, 1, generator=g))

for step in range(start, a.steps):
    if rank == a.die_rank and step == a.die_step and os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0":
        os.kill(os.getpid(), signal.SIGKILL)
    idx = torch.arange(step * a.batch, (step + 1) * a.batch) % a.rows
    xb, yb = X[idx][rank::world], y[idx][rank::world]
    opt.zero_grad()
    loss = ((ddp(xb) - yb) ** 2).mean()
    loss.backward()
    opt.step()
    if train is not None:
        if rank == 0 and (step + 1) % a.ckpt_every == 0:
            with tempfile.TemporaryDirectory() as d:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, os.path.join(d, "state.pt"))
                train.report({"step": step, "loss": loss.item()}, checkpoint=d)
        else:
            train.report({"step": step, "loss": loss.item()})

weights = torch.cat([q.detach().flatten() for q in model.parameters()]).tolist()
with open("%s.%d.json" % (a.out, rank), "w") as f:
    json.dump({"weights": weights, "t0": t0, "t1": time.time(), "start": start}, f)
dist.destroy_process_group()
