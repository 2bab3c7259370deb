"""rayo.train's pure-Python parts: Checkpoint, the context outside a
worker, the errors outside one, and the client side of the worker
protocol against a fake worker on a socket pair (the Go side is tested
in train/internal/proc)."""

import json
import math
import os
import socket
import threading

import numpy as np
import pytest

import rayo.train as train
from rayo.train import _conn


def test_import_starts_nothing():
    import subprocess
    import sys

    code = ("import sys, threading; import rayo.train, rayo.train._launch; "
            "assert threading.active_count() == 1; assert 'torch' not in sys.modules; print('ok')")
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_checkpoint(tmp_path):
    d = tmp_path / "ckpt"
    (d / "sub").mkdir(parents=True)
    (d / "model.pt").write_text("weights")
    (d / "sub" / "opt.pt").write_text("state")

    c = train.Checkpoint.from_directory(str(d))
    assert c.path == str(d) and os.path.isabs(c.path)
    assert c == train.Checkpoint(d) and hash(c) == hash(train.Checkpoint(d))
    assert "ckpt" in repr(c)
    with c.as_directory() as p:
        assert p == c.path and open(os.path.join(p, "model.pt")).read() == "weights"

    out = c.to_directory(str(tmp_path / "copy"))
    assert open(os.path.join(out, "sub", "opt.pt")).read() == "state"
    tmp = c.to_directory()
    try:
        assert open(os.path.join(tmp, "model.pt")).read() == "weights"
    finally:
        import shutil
        shutil.rmtree(tmp)
    assert c.to_directory(c.path) == c.path  # onto itself: nothing to copy

    assert c.get_metadata() == {}
    c.set_metadata({"epoch": 1})
    c.update_metadata({"loss": 0.5})
    assert train.Checkpoint(d).get_metadata() == {"epoch": 1, "loss": 0.5}


def test_relative_checkpoint_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.Checkpoint("x").path == str(tmp_path / "x")


def test_outside_a_worker():
    assert not _conn.connected()
    for call in (lambda: train.report({"a": 1}), train.get_checkpoint, lambda: train.get_dataset_shard("train")):
        with pytest.raises(train.NotInWorkerError, match="not inside a rayo Train worker"):
            call()
    assert issubclass(train.NotInWorkerError, train.TrainError)
    assert issubclass(train.TrainError, RuntimeError)


def test_local_context(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK"):
        monkeypatch.delenv(k, raising=False)
    ctx = train.get_context()
    assert (ctx.get_world_size(), ctx.get_world_rank(), ctx.get_local_rank(), ctx.get_local_world_size(),
            ctx.get_node_rank(), ctx.get_attempt()) == (1, 0, 0, 1, 0, 0)
    assert ctx.get_experiment_name() == "" and ctx.get_storage_path() is None

    # torchrun's variables, as a script run by torchrun sees them.
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("GROUP_RANK", "1")
    ctx = train.get_context()
    assert (ctx.get_world_size(), ctx.get_world_rank(), ctx.get_local_rank(), ctx.get_local_world_size(),
            ctx.get_node_rank()) == (4, 3, 1, 2, 1)
    assert ctx.as_dict()["world_size"] == 4


def test_jsonable():
    got = _conn.jsonable({"f": np.float32(1.5), "i": np.int64(3), "a": np.arange(3), "m": np.ones((2, 2)),
                          "nan": float("nan"), "inf": float("inf"), "ninf": -math.inf, "t": (1, "x", None, True),
                          "p": __import__("pathlib").Path("/x"), 4: "int key"})
    assert got == {"f": 1.5, "i": 3, "a": [0, 1, 2], "m": [[1.0, 1.0], [1.0, 1.0]], "nan": {"__float__": "nan"},
                   "inf": {"__float__": "inf"}, "ninf": {"__float__": "-inf"}, "t": [1, "x", None, True], "p": "/x",
                   "4": "int key"}
    json.dumps(got, allow_nan=False)
    with pytest.raises(TypeError, match=r"metrics\['bad'\]: object"):
        _conn.jsonable({"bad": object()})


class FakeWorker:
    """Serves the protocol on one end of a socket pair, from a thread."""

    def __init__(self, answer):
        self.answer = answer  # (op, request) -> (ok, payload bytes or None) or raises
        self.requests = []
        ours, theirs = socket.socketpair()
        self.sock = ours
        _conn.attach(os.dup(theirs.fileno()))
        theirs.close()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        f = self.sock.makefile("rb")
        for line in f:
            req = json.loads(line)
            self.requests.append(req)
            try:
                ok, payload = self.answer(req["op"], req)
                rep = {"id": req["id"], "ok": ok}
                if payload:
                    rep["nbytes"] = len(payload)
            except Exception as e:
                rep, payload = {"id": req["id"], "error": {"type": "TrainError", "message": str(e)}}, None
            self.sock.sendall(json.dumps(rep).encode() + b"\n" + (payload or b""))

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the serving thread
        self.thread.join()
        self.sock.close()


@pytest.fixture
def worker():
    made = []

    def start(answer):
        w = FakeWorker(answer)
        made.append(w)
        return w
    yield start
    if _conn._conn is not None:
        _conn._conn._sock.close()
    _conn._conn = None
    train._context = None
    for w in made:
        w.close()


def test_report_and_checkpoint(worker, tmp_path, monkeypatch):
    ckpt = tmp_path / "c"
    ckpt.mkdir()
    w = worker(lambda op, req: ({"path": "/resume"}, None) if op == "checkpoint" else ({}, None))
    monkeypatch.chdir(tmp_path)
    train.report({"loss": float("nan"), "step": np.int32(2)}, checkpoint="c")
    train.report({"loss": 1.0}, checkpoint=train.Checkpoint(ckpt))
    train.report({"loss": 0.5})
    assert train.get_checkpoint() == train.Checkpoint("/resume")
    r = w.requests
    assert r[0]["op"] == "report" and r[0]["metrics"] == {"loss": {"__float__": "nan"}, "step": 2}
    assert r[0]["checkpoint"] == str(ckpt) and r[1]["checkpoint"] == str(ckpt) and r[2]["checkpoint"] is None
    assert [q["id"] for q in r] == [1, 2, 3, 4]

    with pytest.raises(ValueError, match="not a directory"):
        train.report({}, checkpoint=str(tmp_path / "missing"))
    with pytest.raises(TypeError):
        train.report([1, 2])
    with pytest.raises(TypeError):
        train.report({}, checkpoint=3)


def test_errors_and_context(worker):
    def answer(op, req):
        if op == "context":
            return {"world_size": 2, "world_rank": 1, "experiment_name": "e", "storage_path": "/s"}, None
        if op == "checkpoint":
            return {"path": None}, None
        raise RuntimeError("storage full")
    worker(answer)
    ctx = train.get_context()
    assert ctx.get_world_size() == 2 and ctx.get_world_rank() == 1 and ctx.get_local_rank() == 0
    assert ctx.get_experiment_name() == "e" and ctx.get_storage_path() == "/s"
    assert train.get_context() is ctx  # asked once
    assert train.get_checkpoint() is None
    with pytest.raises(train.TrainError, match="storage full") as e:
        train.report({"a": 1})
    assert e.value.type == "TrainError"


def test_dataset_shard(worker):
    # One batch of 3 rows: float64 [0, 1.5, 3] at 0, fixed_size_list
    # int32 [3, 2] at 64, bool at 128, and strings in the header.
    payload = bytearray(131)
    payload[0:24] = np.array([0, 1.5, 3]).tobytes()
    payload[64:88] = np.arange(6, dtype=np.int32).tobytes()
    payload[128:131] = bytes([1, 0, 1])
    head = {"rows": 3, "epoch": 7, "columns": [
        {"name": "f", "dtype": "float64", "shape": [3], "offset": 0},
        {"name": "v", "dtype": "int32", "shape": [3, 2], "offset": 64},
        {"name": "b", "dtype": "bool", "shape": [3], "offset": 128},
        {"name": "s", "dtype": "str", "values": ["a", None, "c"], "offset": 0}]}
    sent = []

    def answer(op, req):
        if op == "shard":
            if req["name"] != "train":
                raise KeyError("no dataset %r" % req["name"])
            return {}, None
        if req["start"]:
            sent.clear()
        if len(sent) < 2:
            sent.append(1)
            return head, bytes(payload)
        return {"done": True}, None
    w = worker(answer)
    with pytest.raises(train.TrainError, match="nope"):
        train.get_dataset_shard("nope")
    shard = train.get_dataset_shard("train")
    assert isinstance(shard, train.DataShard)
    batches = list(shard.iter_batches(batch_size=3))
    assert len(batches) == 2
    b = batches[0]
    assert b["f"].dtype == np.float64 and b["f"].tolist() == [0, 1.5, 3]
    assert b["v"].shape == (3, 2) and b["v"].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert b["b"].dtype == np.bool_ and b["b"].tolist() == [True, False, True]
    assert b["s"].dtype == object and b["s"].tolist() == ["a", None, "c"]
    assert b["f"].flags.writeable and b["f"].ctypes.data % 64 == 0
    nexts = [q for q in w.requests if q["op"] == "shard_next"]
    assert nexts[0]["start"] is True and all(q["epoch"] == 7 and not q["start"] for q in nexts[1:])
    assert nexts[0]["batch_size"] == 3

    assert list(shard.iter_batches(batch_size=4, drop_last=True)) == []
    with pytest.raises(ValueError):
        shard.iter_batches(batch_format="pandas")
    with pytest.raises(ValueError):
        shard.iter_batches(batch_size=0)


def test_forked_child_is_refused(worker):
    worker(lambda op, req: ({}, None))
    pid = os.fork()
    if pid == 0:
        try:
            train.report({"a": 1})
            os._exit(1)
        except train.TrainError as e:
            os._exit(0 if "forked child" in str(e) else 2)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
