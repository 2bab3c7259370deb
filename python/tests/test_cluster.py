"""A Python driver against a cluster of separate processes (`rayo start
--head`, with TLS), as Ray's tests use ray.init(address=...): tasks and
actors run, and the job shows in `rayo list jobs` with the Python
command line as its entrypoint."""

import json
import os
import subprocess
import sys

import pytest

import rayo
from rayohead import Head, poll

T = 60


@pytest.fixture(scope="module")
def head(rayo_bin):
    h = Head(rayo_bin, tls=True)
    saved = {k: os.environ.get(k) for k in ("TMPDIR", "RAYO_BINARY", "RAYO_ADDRESS", "RAYO_TOKEN")}
    os.environ.update({"TMPDIR": h.tmpdir, "RAYO_BINARY": rayo_bin})
    for k in ("RAYO_ADDRESS", "RAYO_TOKEN"):
        os.environ.pop(k, None)
    try:
        rayo.init(address=h.address, _temp_dir=h.temp_dir)
        yield h
    finally:
        rayo.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        h.stop()


def test_tasks_and_actors_on_a_cluster(head):
    @rayo.remote
    def double(x):
        return 2 * x

    @rayo.remote
    class Acc:
        def __init__(self):
            self.total = 0

        def add(self, k):
            self.total += k
            return self.total

    assert rayo.get([double.remote(i) for i in range(10)], timeout=T) == [2 * i for i in range(10)]
    a = Acc.remote()
    assert rayo.get([a.add.remote(1) for _ in range(5)], timeout=T) == [1, 2, 3, 4, 5]
    nodes = rayo.nodes()
    assert len(nodes) == 1 and nodes[0]["Alive"] and nodes[0]["IsHead"]
    assert rayo.cluster_resources().get("CPU") == 1.0


def test_job_listed_with_python_entrypoint(head):
    out = subprocess.run([head.rayo, "list", "jobs", "--format", "json", "--temp-dir", head.temp_dir,
                          "--address", head.address], env=head.env, capture_output=True, text=True, timeout=T)
    assert out.returncode == 0, out.stderr
    jobs = json.loads(out.stdout)
    mine = [j for j in jobs if j.get("job_id") == rayo.get_runtime_context().get_job_id()]
    assert mine, jobs
    assert mine[0]["entrypoint"].startswith(sys.executable) and "pytest" in mine[0]["entrypoint"]
    assert mine[0]["status"] == "RUNNING"


def _rayo(head, *args):
    out = subprocess.run([head.rayo, *args, "--temp-dir", head.temp_dir, "--address", head.address], env=head.env,
                         capture_output=True, text=True, timeout=T)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_python_tasks_in_logs_tasks_and_timeline(head, tmp_path):
    # Python tasks show in the state API, the worker logs and the timeline
    # as Go ones do: they are the same tasks on the same workers.
    @rayo.remote
    def shout(word):
        print("python says", word, flush=True)
        return rayo.get_runtime_context().get_task_id()

    task_id = rayo.get(shout.remote("hello-logs"), timeout=T)
    job = rayo.get_runtime_context().get_job_id()

    def listed():  # task events reach the head in batches
        tasks = json.loads(_rayo(head, "list", "tasks", "--format", "json", "--limit", "1000"))
        return [t for t in tasks if t.get("task_id") == task_id]

    mine = poll(listed, "the task in rayo list tasks")
    assert mine[0].get("name", "").endswith("shout"), mine
    poll(lambda: "python says hello-logs" in _rayo(head, "logs", "--job-id", job), "the print in the job's worker logs")
    trace = tmp_path / "trace.json"

    def traced():  # the worker's events come in their own batches
        _rayo(head, "timeline", "--output", str(trace))
        return "shout" in trace.read_text()

    poll(traced, "the task in rayo timeline")
