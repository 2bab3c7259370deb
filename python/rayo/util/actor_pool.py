"""ActorPool (Ray's ray.util.ActorPool): a fixed set of actors, each given
one task at a time."""

import collections

from .. import _runtime

__all__ = ["ActorPool"]


class ActorPool:
    def __init__(self, actors):
        self._idle = list(actors)
        self._future_to_actor = {}
        self._index_to_future = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending = collections.deque()

    def map(self, fn, values):
        """fn(actor, value) -> ObjectRef for each value; results in order."""
        # Leftovers of an earlier call are dropped, as Ray does.
        while self.has_next():
            try:
                self.get_next(timeout=0, ignore_if_timedout=True)
            except TimeoutError:
                pass
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next()

    def map_unordered(self, fn, values):
        """As map, results as they complete."""
        while self.has_next():
            try:
                self.get_next_unordered(timeout=0)
            except TimeoutError:
                pass
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next_unordered()

    def submit(self, fn, value):
        """Schedules fn(actor, value) on an idle actor, or queues it."""
        if self._idle:
            actor = self._idle.pop()
            ref = fn(actor, value)
            self._future_to_actor[ref] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = ref
            self._next_task_index += 1
        else:
            self._pending.append((fn, value))

    def has_next(self):
        return bool(self._future_to_actor) or bool(self._pending)

    def get_next(self, timeout=None, ignore_if_timedout=False):
        """The next result in submission order."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        ref = self._index_to_future[self._next_return_index]
        if timeout is not None:
            ready, _ = _runtime.wait([ref], timeout=timeout)
            if not ready:
                if ignore_if_timedout:
                    return None
                raise TimeoutError("Timed out waiting for result")
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(ref)
        self._return_actor(actor)
        return _runtime.get(ref)

    def get_next_unordered(self, timeout=None, ignore_if_timedout=False):
        """Any finished result."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = _runtime.wait(list(self._future_to_actor), num_returns=1, timeout=timeout)
        if not ready:
            if ignore_if_timedout:
                return None
            raise TimeoutError("Timed out waiting for result")
        ref = ready[0]
        i, actor = self._future_to_actor.pop(ref)
        self._return_actor(actor)
        del self._index_to_future[i]
        self._next_return_index = max(self._next_return_index, i + 1)
        return _runtime.get(ref)

    def _return_actor(self, actor):
        self._idle.append(actor)
        if self._pending:
            self.submit(*self._pending.popleft())

    def has_free(self):
        return bool(self._idle) and not self._pending

    def pop_idle(self):
        return self._idle.pop() if self.has_free() else None

    def push(self, actor):
        busy = [a for _, a in self._future_to_actor.values()]
        if actor in self._idle or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._return_actor(actor)
