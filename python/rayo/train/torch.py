"""PyTorch helpers for a rayo Train script (Ray's ray.train.torch).

The ranks come from torch.distributed once its process group is up, and
from rayo.train.get_context() before (the worker's, or torchrun's
variables outside a worker)."""

import datetime
import os
import warnings

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, RandomSampler

from . import get_context

from ._trainer import TorchTrainer

__all__ = ["get_device", "init_process_group", "prepare_model", "prepare_data_loader", "TorchTrainer"]


def _initialized():
    return dist.is_available() and dist.is_initialized()


def _world():
    """(world size, world rank)."""
    if _initialized():
        return dist.get_world_size(), dist.get_rank()
    ctx = get_context()
    return ctx.get_world_size(), ctx.get_world_rank()


def get_device():
    """This worker's device: the GPU of its local rank among the visible
    ones (cuda:0 when it sees one GPU) where CUDA is available, else CPU."""
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        if n > 0:
            return torch.device("cuda", get_context().get_local_rank() % n)
    return torch.device("cpu")


def init_process_group(backend=None, timeout=None, **kwargs):
    """Starts torch.distributed's default group from the worker's
    torchrun variables, if not started: backend nccl where CUDA is
    available, else gloo; timeout in seconds or a timedelta (None: the
    worker's collective timeout, or torch's default). A single process
    with no MASTER_ADDR gets an in-memory store. Returns the backend."""
    if _initialized():
        return dist.get_backend()
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(get_device())
    if timeout is not None:
        kwargs["timeout"] = timeout if isinstance(timeout, datetime.timedelta) else datetime.timedelta(seconds=timeout)
    size, rank = _world()
    if size == 1 and "MASTER_ADDR" not in os.environ and "init_method" not in kwargs and "store" not in kwargs:
        kwargs.update(store=dist.HashStore(), rank=0, world_size=1)
    dist.init_process_group(backend=backend, **kwargs)
    return backend


def prepare_model(model, move_to_device=True, parallel_strategy="ddp", parallel_strategy_kwargs=None):
    """Moves model to get_device() (move_to_device may name another
    device, or be False) and, with more than one worker, wraps it in
    DistributedDataParallel (starting the process group if the script has
    not). parallel_strategy None leaves it unwrapped."""
    device = get_device()
    if move_to_device:
        if not isinstance(move_to_device, bool):
            device = torch.device(move_to_device)
        model = model.to(device)
    size, _ = _world()
    if size > 1 and parallel_strategy is not None:
        if parallel_strategy != "ddp":
            raise ValueError("prepare_model: parallel_strategy %r is not supported (\"ddp\" or None)" % (parallel_strategy,))
        init_process_group()
        kw = dict(parallel_strategy_kwargs or {})
        if device.type == "cuda":
            kw.setdefault("device_ids", [device])
            kw.setdefault("output_device", device)
        model = torch.nn.parallel.DistributedDataParallel(model, **kw)
    return model


def prepare_data_loader(data_loader, add_dist_sampler=True, move_to_device=True):
    """data_loader for this worker: with more than one worker, rebuilt
    with a DistributedSampler over its dataset (shuffling if it shuffled;
    call its sampler.set_epoch(epoch) each epoch), and, on a GPU, wrapped
    so that its batches' tensors arrive on get_device()."""
    size, rank = _world()
    if (add_dist_sampler and size > 1 and not isinstance(data_loader.sampler, DistributedSampler)
            and not isinstance(data_loader.dataset, IterableDataset)):
        if data_loader.batch_size is None:
            warnings.warn("prepare_data_loader: a DataLoader with its own batch_sampler is left as it is")
        else:
            data_loader = _with_sampler(data_loader, DistributedSampler(
                data_loader.dataset, num_replicas=size, rank=rank,
                shuffle=isinstance(data_loader.sampler, RandomSampler)))
    device = get_device()
    if move_to_device and device.type != "cpu":
        data_loader = _DeviceLoader(data_loader, device)
    return data_loader


def _with_sampler(loader, sampler):
    kw = dict(batch_size=loader.batch_size, shuffle=False, sampler=sampler, num_workers=loader.num_workers,
              collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
              timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
              multiprocessing_context=loader.multiprocessing_context, generator=loader.generator)
    if loader.num_workers > 0:
        kw.update(prefetch_factor=loader.prefetch_factor, persistent_workers=loader.persistent_workers)
    return DataLoader(loader.dataset, **kw)


def _move(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {k: _move(v, device) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_move(v, device) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_move(v, device) for v in x)
    return x


class _DeviceLoader:
    """A DataLoader whose batches' tensors are moved to a device; other
    attributes are the loader's."""

    def __init__(self, loader, device):
        self._loader = loader
        self._device = device

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        for batch in self._loader:
            yield _move(batch, self._device)

    def __getattr__(self, name):
        return getattr(self._loader, name)
