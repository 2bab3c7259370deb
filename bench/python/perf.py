"""Ray's ray_perf.py rows for Python on rayo (bench/python/run.sh runs
it): each row's median rate over several rounds, on the embedded
default cluster, beside Ray 2.22's published single-client figures.
argv[1] is the Go job binary (gobench), for the Python→Go row."""

import asyncio
import json
import statistics
import sys
import time

import numpy as np

import rayo
from rayo import cross_language

ROUNDS = 5
RAY = {"tasks_sync": 971, "tasks_async": 8194, "actor_sync": 2096, "actor_async": 9063, "put": 5196, "get": 10270}


def noop(x=None):
    return x


@rayo.remote
def task(x=None):
    return x


@rayo.remote
class Actor:
    def f(self, x=None):
        return x


@rayo.remote
class AsyncActor:
    async def f(self, x=None):
        return x


def rate(n, fn):
    fn(min(n, 200))  # warm
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(n)
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    rayo.init(go_binary=sys.argv[1], log_to_driver=False, object_store_memory=1 << 30)
    rows = {}
    a, aa = Actor.remote(), AsyncActor.remote()
    # Both actors up (their Python workers started) before the first row,
    # which would otherwise share the cores with their start.
    rayo.get([a.f.remote(), aa.f.remote()])
    rows["tasks_sync"] = rate(2000, lambda n: [rayo.get(task.remote()) for _ in range(n)])
    rows["tasks_async"] = rate(5000, lambda n: rayo.get([task.remote() for _ in range(n)]))
    rows["actor_sync"] = rate(2000, lambda n: [rayo.get(a.f.remote()) for _ in range(n)])
    rows["actor_async"] = rate(5000, lambda n: rayo.get([a.f.remote() for _ in range(n)]))
    rows["async_actor_async"] = rate(5000, lambda n: rayo.get([aa.f.remote() for _ in range(n)]))
    rows["put"] = rate(5000, lambda n: [rayo.put(0) for _ in range(n)])
    small = rayo.put(0)
    rows["get"] = rate(5000, lambda n: [rayo.get(small) for _ in range(n)])
    add = cross_language.go_function("bench.noop")
    rows["python_to_go_sync"] = rate(2000, lambda n: [rayo.get(add.remote(1)) for _ in range(n)])
    big = np.ones(100_000_000 // 8)
    ref = rayo.put(big)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        v = rayo.get(ref)
        times.append((time.perf_counter() - start) * 1e3)
        assert not v.flags.writeable and v.nbytes == big.nbytes
        del v
    rows["get_100mb_ms"] = statistics.median(times)
    start = time.perf_counter()
    for _ in range(3):
        rayo.put(big)
    rows["put_100mb_ms"] = (time.perf_counter() - start) / 3 * 1e3
    rayo.shutdown()
    for k, v in rows.items():
        ray = RAY.get(k)
        print("%-20s %10.1f%s" % (k, v, "   (Ray 2.22: %d, %.1fx)" % (ray, v / ray) if ray else ""))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
