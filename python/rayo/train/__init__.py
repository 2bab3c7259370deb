"""rayo Train's API for a training script (Ray's ray.train).

rayo's TorchTrainer runs an ordinary PyTorch script on each training
worker, with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, ...), as `python -m rayo.train._launch script args`. The
script talks to its worker through this module:

    import rayo.train as train

    ctx = train.get_context()                  # ranks, experiment name
    ckpt = train.get_checkpoint()              # resume from, or None
    shard = train.get_dataset_shard("train")   # this worker's data
    for batch in shard.iter_torch_batches(batch_size=64): ...
    train.report({"loss": loss}, checkpoint=Checkpoint.from_directory(d))

Outside a worker, report, get_checkpoint and get_dataset_shard raise
NotInWorkerError (a RuntimeError); get_context returns a context read from
torchrun's variables (single-process defaults without them), as Ray gives
a local context, so that a script also runs by hand or under torchrun.
rayo.train.torch has prepare_model and prepare_data_loader.

This module needs no cluster connection and starts nothing on import.
"""

import contextlib
import json
import os
import shutil
import tempfile

from ._conn import NotInWorkerError, TrainError
from ._data import DataShard
from . import _conn

__all__ = ["report", "get_checkpoint", "get_context", "get_dataset_shard", "Checkpoint", "TrainContext",
           "DataShard", "TrainError", "NotInWorkerError",
           "ScalingConfig", "RunConfig", "FailureConfig", "CheckpointConfig", "Result", "TrainingFailedError"]


class Checkpoint:
    """A directory of files that make a checkpoint (Ray's train.Checkpoint).

    rayo's checkpoints are local directories: path is the directory."""

    _METADATA = ".metadata.json"

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))

    @classmethod
    def from_directory(cls, path):
        """A checkpoint of the files in directory path (not copied)."""
        return cls(path)

    def to_directory(self, path=None):
        """Copies the checkpoint's files into path (a new temporary
        directory when None) and returns that path."""
        if path is None:
            path = tempfile.mkdtemp(prefix="rayo-checkpoint-")
        path = os.fspath(path)
        if os.path.abspath(path) != self.path:
            shutil.copytree(self.path, path, dirs_exist_ok=True)
        return path

    @contextlib.contextmanager
    def as_directory(self):
        """Yields a local directory with the checkpoint's files: the
        checkpoint's own, which the caller must not change."""
        yield self.path

    def get_metadata(self):
        """The metadata dict stored with the checkpoint ({} when none)."""
        try:
            with open(os.path.join(self.path, self._METADATA)) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def set_metadata(self, metadata):
        with open(os.path.join(self.path, self._METADATA), "w") as f:
            json.dump(metadata, f)

    def update_metadata(self, metadata):
        m = self.get_metadata()
        m.update(metadata)
        self.set_metadata(m)

    def __repr__(self):
        return "Checkpoint(path=%r)" % self.path

    def __eq__(self, other):
        return isinstance(other, Checkpoint) and other.path == self.path

    def __hash__(self):
        return hash(self.path)


class TrainContext:
    """This worker's place in the run (Ray's train.get_context()).

    as_dict() gives every key the worker sent; the getters name the usual
    ones: world_size, world_rank, local_rank, local_world_size, node_rank,
    experiment_name, trial_name, trial_id, storage_path, attempt."""

    def __init__(self, data):
        self._data = dict(data)

    def _int(self, key, default):
        v = self._data.get(key)
        return default if v is None else int(v)

    def get_world_size(self):
        return self._int("world_size", 1)

    def get_world_rank(self):
        return self._int("world_rank", 0)

    def get_local_rank(self):
        return self._int("local_rank", 0)

    def get_local_world_size(self):
        return self._int("local_world_size", 1)

    def get_node_rank(self):
        return self._int("node_rank", 0)

    def get_experiment_name(self):
        return self._data.get("experiment_name") or ""

    def get_trial_name(self):
        return self._data.get("trial_name")

    def get_trial_id(self):
        return self._data.get("trial_id")

    def get_storage_path(self):
        """The run's storage directory (None outside a worker)."""
        return self._data.get("storage_path")

    def get_attempt(self):
        """How many times the run restarted before this attempt (0 first)."""
        return self._int("attempt", 0)

    def get(self, key, default=None):
        return self._data.get(key, default)

    def as_dict(self):
        return dict(self._data)

    def __repr__(self):
        return "TrainContext(%r)" % self._data


def _local_context():
    env = os.environ

    def num(name, default):
        try:
            return int(env[name])
        except (KeyError, ValueError):
            return default
    return {"world_size": num("WORLD_SIZE", 1), "world_rank": num("RANK", 0), "local_rank": num("LOCAL_RANK", 0),
            "local_world_size": num("LOCAL_WORLD_SIZE", 1), "node_rank": num("GROUP_RANK", 0),
            "experiment_name": "", "storage_path": None, "attempt": 0}


_context = None


def get_context():
    """This worker's TrainContext. Outside a worker: one read from
    torchrun's variables (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE,
    GROUP_RANK), each defaulting to a single process."""
    global _context
    if not _conn.connected():
        return TrainContext(_local_context())
    if _context is None:
        ok, _ = _conn.current().call("context")
        _context = TrainContext(ok or {})
    return _context


def report(metrics, checkpoint=None):
    """Reports metrics (a dict of numbers, strings, lists, dicts; numpy
    and torch scalars too), and optionally a checkpoint: a Checkpoint or
    a directory's path. When report returns, the worker has taken the
    checkpoint's files: the script may delete the directory."""
    if not isinstance(metrics, dict):
        raise TypeError("report(metrics): metrics must be a dict, not %s" % type(metrics).__name__)
    conn = _conn.current()
    path = None
    if checkpoint is not None:
        if isinstance(checkpoint, Checkpoint):
            path = checkpoint.path
        elif isinstance(checkpoint, (str, os.PathLike)):
            path = os.path.abspath(os.fspath(checkpoint))
        else:
            raise TypeError("report(checkpoint=): a Checkpoint or a directory's path, not %s" % type(checkpoint).__name__)
        if not os.path.isdir(path):
            raise ValueError("report(checkpoint=): %s is not a directory" % path)
    conn.call("report", metrics=_conn.jsonable(metrics), checkpoint=path)


def get_checkpoint():
    """The checkpoint to resume from (the last one reported in an earlier
    attempt, or the one the trainer was given), or None."""
    ok, _ = _conn.current().call("checkpoint")
    path = (ok or {}).get("path")
    return None if not path else Checkpoint(path)


def get_dataset_shard(name):
    """This worker's shard of the dataset the trainer was given as name.
    TrainError (from the worker) when there is no such dataset."""
    _conn.current().call("shard", name=name)
    return DataShard(name)


# The driver's side (Ray's ray.train configs); TorchTrainer is in
# rayo.train.torch. Imported last: it needs Checkpoint.
from ._trainer import (CheckpointConfig, FailureConfig, Result, RunConfig, ScalingConfig,  # noqa: E402
                       TrainingFailedError)
