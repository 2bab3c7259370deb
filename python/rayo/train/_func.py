"""A Python TorchTrainer's train_loop_per_worker, run in a worker's
script process: `python -m rayo.train._launch -m rayo.train._func PATH`,
PATH holding the cloudpickled function, its config and the backend. The
process group is started first (nccl where CUDA is, else gloo), as Ray
does, and destroyed after."""

import inspect
import sys

import cloudpickle


def _takes_config(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def main(path):
    with open(path, "rb") as f:
        spec = cloudpickle.load(f)
    fn, config = spec["fn"], spec.get("config")
    from rayo.train import torch as rt
    import torch.distributed as dist

    rt.init_process_group(spec.get("backend"))
    try:
        if config is None and not _takes_config(fn):
            fn()
        else:
            fn(config if config is not None else {})
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
