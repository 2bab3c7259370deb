"""rayo's Python quick start: tasks, an actor, numpy arrays through the
object store, and calls into Go, on the embedded default cluster (or the
one RAYO_ADDRESS names).

    go build -o /tmp/calc ./examples/python/calc     # the Go side
    go build -o /tmp/rayo ./cmd/rayo                 # or put rayo on PATH
    RAYO_BINARY=/tmp/rayo PYTHONPATH=python /usr/bin/python3 examples/python/quickstart.py /tmp/calc

Written against Ray's API: `import rayo as ray` is the only change a Ray
program needs.
"""

import sys
import time

import numpy as np

import rayo as ray
from rayo import cross_language


@ray.remote
def square(x):
    return x * x


@ray.remote
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self, k=1):
        self.n += k
        return self.n


@ray.remote
def norm(a):
    # a arrives as a read-only numpy array over the node's shared memory.
    return float(np.linalg.norm(a))


def main():
    go_binary = sys.argv[1] if len(sys.argv) > 1 else None
    ray.init(go_binary=go_binary)
    print("cluster:", ray.cluster_resources())

    # Tasks: submitted at once, run in parallel, results in order.
    print("squares:", ray.get([square.remote(i) for i in range(8)]))

    # An actor keeps its state between calls, which run in order.
    c = Counter.remote()
    for _ in range(3):
        c.incr.remote()
    print("counter:", ray.get(c.incr.remote(10)))

    # A large array goes to the object store once; a get on its node is a
    # view of the store (no copy), and tasks receive it by reference.
    a = np.random.default_rng(0).standard_normal(10_000_000)
    ref = ray.put(a)
    t = time.perf_counter()
    b = ray.get(ref)
    print("get of %d MB: %.2f ms, a copy: %s" % (a.nbytes >> 20, (time.perf_counter() - t) * 1e3, b.flags.writeable))
    print("norm in a task:", round(ray.get(norm.remote(ref)), 3), "here:", round(float(np.linalg.norm(a)), 3))

    # Calls into Go: tasks and actors the job's Go binary registers.
    if go_binary:
        add = cross_language.go_function("calc.add")
        print("calc.add(40, 2) in Go:", ray.get(add.remote(40, 2)))
        acc = cross_language.go_actor_class("calc.Accumulator").remote(100)
        print("calc.Accumulator in Go:", ray.get([acc.add.remote(1), acc.add.remote(2)]))
        print("calc.sum of a numpy array in Go:", ray.get(cross_language.go_function("calc.sum").remote(np.arange(5.0))))
    ray.shutdown()


if __name__ == "__main__":
    main()
