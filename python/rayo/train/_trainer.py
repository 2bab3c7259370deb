"""Ray Train's trainer API for a Python driver: TorchTrainer and its
configs, on rayo's Go Train.

TorchTrainer.fit() calls the Go task rayo.train.fit (in the rayo binary,
the job's Go program) across languages, pinned to the driver's node so
that the run's storage path is on the driver's machine. The Go side
places the worker group, runs train_loop_per_worker (cloudpickled) in
each worker's own Python process with torchrun's environment and
torch.distributed's process group already up (gloo on CPU, NCCL on GPU),
writes the checkpoints that rayo.train.report sends, and restarts the
group from the latest one when a worker dies (FailureConfig)."""

import os
import sys

import cloudpickle

from . import Checkpoint

__all__ = ["ScalingConfig", "RunConfig", "FailureConfig", "CheckpointConfig", "Result", "TorchTrainer",
           "TrainingFailedError"]


class ScalingConfig:
    """How many workers and what each holds (Ray's ScalingConfig).
    min_workers (rayo's) lets a restart run with fewer workers when fewer
    fit; placement_timeout_s bounds the wait for the group's resources."""

    def __init__(self, num_workers=1, use_gpu=False, resources_per_worker=None, placement_strategy="PACK",
                 min_workers=None, placement_timeout_s=None, trainer_resources=None):
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError("ScalingConfig: num_workers must be a positive int, not %r" % (num_workers,))
        self.num_workers = num_workers
        self.use_gpu = bool(use_gpu)
        self.resources_per_worker = dict(resources_per_worker or {})
        self.placement_strategy = placement_strategy
        self.min_workers = min_workers
        self.placement_timeout_s = placement_timeout_s
        # Ray's trainer_resources reserve the coordinating actor's; rayo's
        # driving task takes none.
        self.trainer_resources = trainer_resources


class FailureConfig:
    """How often the group restarts from its latest checkpoint after a
    worker is lost (Ray's FailureConfig); -1 without limit.
    collective_timeout_s is init_process_group's timeout."""

    def __init__(self, max_failures=0, collective_timeout_s=None):
        self.max_failures = max_failures
        self.collective_timeout_s = collective_timeout_s


class CheckpointConfig:
    """Which checkpoints to keep (Ray's CheckpointConfig); the latest is
    always kept too."""

    def __init__(self, num_to_keep=None, checkpoint_score_attribute=None, checkpoint_score_order="max"):
        if checkpoint_score_order not in ("max", "min"):
            raise ValueError("CheckpointConfig: checkpoint_score_order must be 'max' or 'min'")
        self.num_to_keep = num_to_keep
        self.checkpoint_score_attribute = checkpoint_score_attribute
        self.checkpoint_score_order = checkpoint_score_order


class RunConfig:
    """The run's name and where its results go (Ray's RunConfig):
    storage_path/name on the driver's machine (default ~/rayo_results)."""

    def __init__(self, name=None, storage_path=None, failure_config=None, checkpoint_config=None):
        self.name = name
        self.storage_path = storage_path
        self.failure_config = failure_config or FailureConfig()
        self.checkpoint_config = checkpoint_config or CheckpointConfig()


class Result:
    """A finished run (Ray's Result): rank 0's last metrics, the latest
    checkpoint, the run's directory, and error (None when it finished)."""

    def __init__(self, out):
        self.metrics = out.get("metrics") or {}
        self.metrics_history = [dict(h.get("metrics") or {}, _round=h["round"], _attempt=h["attempt"])
                                for h in (out.get("history") or [])]
        self.checkpoint = Checkpoint(out["checkpoint"]) if out.get("checkpoint") else None
        self.best_checkpoints = [(Checkpoint(b["path"]), b.get("metrics") or {}) for b in (out.get("best") or [])]
        self.path = out.get("path")
        self.failures = out.get("failures", 0)
        self.world_size = out.get("world_size", 0)
        self.error = None

    def __repr__(self):
        return "Result(metrics=%r, checkpoint=%r, path=%r, error=%r)" % (self.metrics, self.checkpoint, self.path, self.error)


class TrainingFailedError(RuntimeError):
    """fit() failed (Ray's TrainingFailedError). kind names the Go error
    (worker_failed, worker_lost, too_many_failures, infeasible, storage,
    invalid_config...), rank the worker at fault (-1 if none), traceback
    the failing script's; result holds what the run had reported."""

    def __init__(self, message, kind="", rank=-1, traceback="", result=None):
        super().__init__(message + ("\n\n" + traceback if traceback else ""))
        self.kind, self.rank, self.traceback, self.result = kind, rank, traceback, result


def _dumps(obj, fn):
    """Pickles obj with fn's module by value when it is the user's own
    code (not installed): the workers' processes may not import it by
    name (a test module, a script's sibling), as Ray's working_dir would
    let them."""
    mod = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = os.path.realpath(getattr(mod, "__file__", None) or "")
    installed = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.__file__))]
    ours = os.path.realpath(os.path.dirname(os.path.dirname(__file__)))
    by_value = mod is not None and mod.__name__ != "__main__" and path and not path.startswith(ours + os.sep) and \
        not any(path.startswith(p + os.sep) for p in installed) and "-packages" + os.sep not in path
    if by_value:
        cloudpickle.register_pickle_by_value(mod)
    try:
        return cloudpickle.dumps(obj)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(mod)


class TorchTrainer:
    """Runs train_loop_per_worker(train_loop_config) on every worker of a
    group (Ray's TorchTrainer); inside it use rayo.train.report,
    get_checkpoint, get_context and rayo.train.torch.prepare_model /
    prepare_data_loader. The function may take no argument when
    train_loop_config is None."""

    def __init__(self, train_loop_per_worker, *, train_loop_config=None, scaling_config=None, run_config=None,
                 resume_from_checkpoint=None, torch_config=None, datasets=None, env=None):
        if not callable(train_loop_per_worker):
            raise TypeError("TorchTrainer needs a callable train_loop_per_worker")
        if datasets:
            raise NotImplementedError("datasets from a Python driver are not supported yet: rayo Data is a Go "
                                      "library; a Go TorchTrainer takes Datasets and the script reads them with "
                                      "rayo.train.get_dataset_shard")
        self._fn = train_loop_per_worker
        self._config = train_loop_config
        self._scaling = scaling_config or ScalingConfig()
        self._run = run_config or RunConfig()
        self._resume = resume_from_checkpoint
        self._backend = getattr(torch_config, "backend", None)
        self._env = dict(env or {})

    def _spec(self):
        s, r = self._scaling, self._run
        f, c = r.failure_config, r.checkpoint_config
        storage = os.path.abspath(os.path.expanduser(r.storage_path)) if r.storage_path else ""
        resume = ""
        if self._resume is not None:
            resume = os.path.abspath(self._resume.path if isinstance(self._resume, Checkpoint) else os.fspath(self._resume))
        return {
            "func": _dumps({"fn": self._fn, "config": self._config, "backend": self._backend}, self._fn),
            "python": sys.executable, "dir": os.getcwd(), "env": self._env,
            "num_workers": s.num_workers, "use_gpu": s.use_gpu,
            "resources_per_worker": {k: float(v) for k, v in s.resources_per_worker.items()},
            "placement_strategy": s.placement_strategy or "PACK", "min_workers": s.min_workers or 0,
            "placement_timeout_s": float(s.placement_timeout_s or 0),
            "name": r.name or "", "storage_path": storage,
            "max_failures": int(f.max_failures or 0), "collective_timeout_s": float(f.collective_timeout_s or 0),
            "num_to_keep": int(c.num_to_keep or 0), "score_attribute": c.checkpoint_score_attribute or "",
            "order": c.checkpoint_score_order, "resume_from": resume,
        }

    def fit(self):
        """Trains and returns the Result; raises TrainingFailedError (with
        .result) when training fails. Starts rayo (rayo.init()) if it is
        not yet."""
        import rayo
        from rayo.cross_language import go_function
        from rayo.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not rayo.is_initialized():
            rayo.init()
        node = rayo.get_runtime_context().get_node_id()
        ref = go_function("rayo.train.fit").options(
            num_cpus=0, max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(self._spec())
        try:
            out = rayo.get(ref)
        except KeyboardInterrupt:
            rayo.cancel(ref)  # the workers stop with the driving task
            raise
        result = Result(out)
        if out.get("error"):
            err = TrainingFailedError(out["error"], out.get("error_kind", ""), out.get("rank", -1), out.get("stack", ""), result)
            result.error = err
            raise err
        return result
