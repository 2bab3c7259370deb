"""rayo.train.torch and the launcher's torch.distributed wrapper, in a
single process (world size 1, or a faked world size for the sampler).
The multi-process paths run in train/internal/proc's Go tests."""

import datetime
import os
import subprocess
import sys
import types

import pytest

from rayo.train import _launch


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail("rayo.train.torch's tests need python3-torch: %s" % e)
        pytest.skip("no torch: %s" % e)


@pytest.fixture
def single(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU, also on a GPU machine


def test_prepare_world_size_one(single):
    _need_torch()
    import torch
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    from rayo.train import torch as rt

    assert rt.get_device() == torch.device("cpu")
    model = torch.nn.Linear(3, 1)
    assert rt.prepare_model(model) is model  # not wrapped in DDP
    loader = DataLoader(TensorDataset(torch.arange(10.0)), batch_size=4, shuffle=True)
    prepared = rt.prepare_data_loader(loader)
    assert prepared is loader and not isinstance(prepared.sampler, DistributedSampler)
    assert [len(b[0]) for b in prepared] == [4, 4, 2]


def test_prepare_data_loader_adds_sampler(single, monkeypatch):
    _need_torch()
    import torch
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    from rayo.train import torch as rt

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    for shuffle in (False, True):
        loader = DataLoader(TensorDataset(torch.arange(10.0)), batch_size=2, shuffle=shuffle, drop_last=True)
        prepared = rt.prepare_data_loader(loader)
        s = prepared.sampler
        assert isinstance(s, DistributedSampler) and (s.num_replicas, s.rank, s.shuffle) == (2, 1, shuffle)
        assert prepared.batch_size == 2 and prepared.drop_last
        seen = sorted(int(x) for b in prepared for x in b[0])
        assert len(seen) == 4 and (shuffle or seen == [1, 3, 5, 7])
    assert rt.prepare_data_loader(loader, add_dist_sampler=False) is loader


def test_device_loader_moves_nested_batches(single):
    _need_torch()
    import collections

    import torch

    from rayo.train import torch as rt

    P = collections.namedtuple("P", "x y")
    batches = [{"a": torch.ones(1), "b": [torch.zeros(1), "s"], "p": P(torch.ones(1), 3)}]
    wrapped = rt._DeviceLoader(batches, torch.device("cpu"))
    assert len(wrapped) == 1
    out = list(wrapped)[0]
    assert out["b"][1] == "s" and isinstance(out["p"], P) and out["p"].y == 3
    assert wrapped.count(batches[0]) == 1  # other attributes are the loader's


def test_init_process_group_single(single):
    _need_torch()
    import torch.distributed as dist

    from rayo.train import torch as rt

    try:
        assert rt.init_process_group(timeout=5) == "gloo"
        assert dist.get_world_size() == 1
        assert rt.init_process_group() == "gloo"  # once
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_wrap_init_fills_a_missing_timeout(monkeypatch):
    calls = []

    def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None):
        calls.append(timeout)

    mod = types.SimpleNamespace(init_process_group=init_process_group)
    monkeypatch.setenv("NCCL_ASYNC_ERROR_HANDLING", "1")  # no torch needed to name it
    _launch._wrap_init(mod, 7)
    _launch._wrap_init(mod, 9)  # once only
    mod.init_process_group("gloo")
    mod.init_process_group("gloo", None, datetime.timedelta(seconds=3))
    mod.init_process_group(backend="gloo", timeout=datetime.timedelta(seconds=4))
    mod.init_process_group("gloo", timeout=None)
    assert calls == [datetime.timedelta(seconds=7), datetime.timedelta(seconds=3), datetime.timedelta(seconds=4),
                     datetime.timedelta(seconds=7)]
    assert mod.init_process_group.__name__ == "init_process_group"


def test_is_collective_timeout():
    class DistBackendError(RuntimeError):
        pass

    assert _launch.is_collective_timeout(DistBackendError("Watchdog: timed out after 2000 ms"))
    assert not _launch.is_collective_timeout(DistBackendError("NCCL error: invalid usage"))
    # A RuntimeError of the user's own saying "timed out" is not one.
    assert not _launch.is_collective_timeout(RuntimeError("request timed out"))
    assert not _launch.is_collective_timeout(ValueError("x"))
    try:
        try:
            raise DistBackendError("Timed out waiting 2000ms for recv operation to complete")
        except DistBackendError as inner:
            raise ValueError("training failed") from inner
    except ValueError as outer:
        assert _launch.is_collective_timeout(outer)


def _launch_script(tmp_path, body, env_extra):
    script = tmp_path / "s.py"
    script.write_text(body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYO_TRAIN")}
    env.update(PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."), PYTHONDONTWRITEBYTECODE="1", **env_extra)
    return subprocess.run([sys.executable, "-m", "rayo.train._launch", str(script), "a1"], env=env,
                          capture_output=True, text=True, cwd=str(tmp_path))


def test_launcher_without_worker(tmp_path):
    # The launcher runs a script without a worker too (nothing to attach):
    # argv, __name__, the script's directory on sys.path, torch untouched.
    r = _launch_script(tmp_path, (
        "import sys, os\n"
        "assert __name__ == '__main__' and sys.argv[1:] == ['a1'], sys.argv\n"
        "assert sys.path[0] == os.path.dirname(os.path.abspath(__file__)), sys.path[:2]\n"
        "assert 'torch' not in sys.modules\n"
        "print('ran')\n"), {"RAYO_TRAIN_COLLECTIVE_TIMEOUT": "3"})
    assert r.returncode == 0 and r.stdout.strip() == "ran", r.stderr

    r = _launch_script(tmp_path, "raise KeyError('k')\n", {})
    assert r.returncode == 1 and "KeyError: 'k'" in r.stderr and "runpy" not in r.stderr

    r = _launch_script(tmp_path, "import sys\nsys.exit(4)\n", {})
    assert r.returncode == 4


def test_launcher_wraps_torch_distributed(tmp_path):
    _need_torch()
    r = _launch_script(tmp_path, (
        "import torch.distributed as dist\n"
        "from torch.distributed import distributed_c10d\n"
        "assert getattr(dist.init_process_group, '_rayo_wrapped', False)\n"
        "assert distributed_c10d.init_process_group is dist.init_process_group\n"
        "print('wrapped')\n"), {"RAYO_TRAIN_COLLECTIVE_TIMEOUT": "3"})
    assert r.returncode == 0 and r.stdout.strip() == "wrapped", r.stderr
    r = _launch_script(tmp_path, (
        "import torch.distributed as dist\n"
        "assert not hasattr(dist.init_process_group, '_rayo_wrapped')\n"), {})
    assert r.returncode == 0, r.stderr
