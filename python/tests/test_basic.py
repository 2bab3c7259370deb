"""Tasks, objects and actors on an embedded cluster (in the manner of
Ray's python/ray/tests/test_basic.py)."""

import pytest

import rayo


@rayo.remote
def add(a, b=1):
    return a + b


def test_task_and_put(rayo_start):
    assert rayo.get(add.remote(1, b=5)) == 6
    r = rayo.put({"a": [1, 2, 3]})
    assert rayo.get(r) == {"a": [1, 2, 3]}
    # A top-level ref argument arrives as its value.
    assert rayo.get(add.remote(rayo.put(2), 3)) == 5
    assert rayo.get([add.remote(i) for i in range(20)]) == list(range(1, 21))


@rayo.remote
class Counter:
    def __init__(self, start=0):
        self.n = start

    def incr(self, k=1):
        self.n += k
        return self.n


def test_actor(rayo_start):
    c = Counter.remote(10)
    assert rayo.get(c.incr.remote()) == 11
    assert rayo.get([c.incr.remote(2) for _ in range(5)]) == [13, 15, 17, 19, 21]
