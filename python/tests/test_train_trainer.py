"""Python's TorchTrainer on rayo's Go Train, as Ray's train tests use
ray.train.torch.TorchTrainer: a 2-worker gloo DDP run through
prepare_model keeps the ranks' weights identical, a worker killed mid-run
restarts the group from the checkpoint, and failures raise
TrainingFailedError with the rank and the traceback."""

import os
import tempfile

import pytest

import rayo
import rayo.train as train
from rayo.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, TrainingFailedError


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail("TorchTrainer's tests need python3-torch: %s" % e)
        pytest.skip("no torch: %s" % e)


def _loop(config):
    import torch
    from rayo.train.torch import prepare_model

    ctx = train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(0)
    model = prepare_model(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = 0
    ck = train.get_checkpoint()
    if ck is not None:
        state = torch.load(os.path.join(ck.path, "state.pt"))
        model.module.load_state_dict(state["model"])
        start = state["step"] + 1
    g = torch.Generator().manual_seed(1)
    X = torch.randn(64, 4, generator=g)
    y = X.sum(1, keepdim=True)
    for step in range(start, config["steps"]):
        if rank == config.get("die_rank") and step == config.get("die_step") and ctx.get_attempt() == 0:
            os.kill(os.getpid(), 9)
        opt.zero_grad()
        loss = ((model(X[rank::world]) - y[rank::world]) ** 2).mean()
        loss.backward()
        opt.step()
        weights = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
        with tempfile.TemporaryDirectory() as d:
            torch.save({"model": model.module.state_dict(), "step": step}, os.path.join(d, "state.pt"))
            train.report({"step": step, "loss": loss.item(), "weights": weights, "rank": rank},
                         checkpoint=d if rank == 0 else None)


def _trainer(tmp_path, **config):
    return train.torch.TorchTrainer(
        _loop, train_loop_config=dict(steps=6, **config), scaling_config=ScalingConfig(num_workers=2),
        run_config=RunConfig(name="py", storage_path=str(tmp_path),
                             failure_config=FailureConfig(max_failures=1), checkpoint_config=CheckpointConfig(num_to_keep=2)))


def test_torch_trainer_ddp_and_restart(rayo_start, tmp_path):
    _need_torch()
    import rayo.train.torch  # noqa: F401

    plain = _trainer(tmp_path / "plain").fit()
    assert plain.error is None and plain.failures == 0 and plain.world_size == 2
    assert [h["step"] for h in plain.metrics_history] == list(range(6))
    assert plain.metrics["rank"] == 0
    assert plain.checkpoint.path == str(tmp_path / "plain" / "py" / "checkpoint_000005")
    assert os.path.exists(os.path.join(plain.checkpoint.path, "state.pt"))
    assert sorted(os.listdir(tmp_path / "plain" / "py")) == [".lock", "checkpoint_000004", "checkpoint_000005", "result.json"]

    killed = _trainer(tmp_path / "killed", die_rank=1, die_step=3).fit()
    assert killed.failures == 1
    assert killed.metrics_history[-1]["_attempt"] == 1
    # Resumed from the checkpoint of step 1 or 2: the same weights as the
    # run that was not interrupted.
    for a, b in zip(plain.metrics["weights"], killed.metrics["weights"]):
        assert abs(a - b) < 1e-6


def test_torch_trainer_failures(rayo_start, tmp_path):
    _need_torch()
    import rayo.train.torch as tt

    def broken():
        raise ValueError("no data")

    with pytest.raises(TrainingFailedError) as e:
        tt.TorchTrainer(broken, scaling_config=ScalingConfig(num_workers=2),
                        run_config=RunConfig(storage_path=str(tmp_path))).fit()
    # Every rank raises: the first to fail is named, whichever it is.
    assert e.value.kind == "worker_failed" and e.value.rank in (0, 1)
    assert "ValueError: no data" in str(e.value) and "in broken" in e.value.traceback
    assert e.value.result is not None and e.value.result.error is e.value

    with pytest.raises(TrainingFailedError) as e:
        tt.TorchTrainer(broken, scaling_config=ScalingConfig(num_workers=64),
                        run_config=RunConfig(storage_path=str(tmp_path))).fit()
    assert e.value.kind == "infeasible"

    with pytest.raises(ValueError):
        ScalingConfig(num_workers=0)
    with pytest.raises(NotImplementedError):
        tt.TorchTrainer(broken, datasets={"x": [1]})
