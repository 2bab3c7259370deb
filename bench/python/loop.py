"""One of perf.py's rows run as a steady loop for a while, for A/B runs
of two builds (docs/performance.md, "Python"): its rate over the whole
run, after a warm-up.

    RAYO_BINARY=... PYTHONPATH=python /usr/bin/python3 bench/python/loop.py ROW SECONDS

ROW is tasks_sync, tasks_async, actor_sync or actor_async. Alternate the
builds run by run (RAYO_BINARY and PYTHONPATH naming each): this
machine's speed drifts between runs more than most changes move a row.
"""

import sys
import time

import rayo


@rayo.remote
def task(x=None):
    return x


@rayo.remote
class Actor:
    def f(self, x=None):
        return x


ROWS = {
    "tasks_sync": (200, lambda a: [rayo.get(task.remote()) for _ in range(200)]),
    "tasks_async": (1000, lambda a: rayo.get([task.remote() for _ in range(1000)])),
    "actor_sync": (200, lambda a: [rayo.get(a.f.remote()) for _ in range(200)]),
    "actor_async": (1000, lambda a: rayo.get([a.f.remote() for _ in range(1000)])),
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ROWS:
        sys.exit("usage: loop.py {%s} SECONDS" % ",".join(ROWS))
    per, run = ROWS[sys.argv[1]]
    seconds = float(sys.argv[2])
    rayo.init(log_to_driver=False, object_store_memory=1 << 30)
    a = Actor.remote()
    for _ in range(3):  # warm: workers started, leases held
        run(a)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(a)
        n += per
    print("%s %.0f" % (sys.argv[1], n / (time.perf_counter() - start)))
    rayo.shutdown()


if __name__ == "__main__":
    main()
