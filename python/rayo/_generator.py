"""ObjectRefGenerator: the result of a num_returns="streaming" call (Ray's
streaming generators). Iterating it yields an ObjectRef per item as the
task yields them; an item not yet produced blocks next() (or times out
with next_ready's timeout). When the task raises, next() raises its
error once the items before it are taken (Ray puts the error in one more
ObjectRef instead)."""

import asyncio

from . import _runtime

__all__ = ["ObjectRefGenerator"]


class ObjectRefGenerator:
    def __init__(self, ref):
        self._ref = ref  # the task's own object: the stream's ID, counted
        self._done = False

    def __iter__(self):
        return self

    def __next__(self):
        return self._next(None)

    def _next(self, timeout):
        if self._done:
            raise StopIteration
        c = _runtime.current()
        reply = c.call("py.stream.next", {"id": self._ref.object_id, "t": -1.0 if timeout is None else float(timeout)})
        if reply.get("end"):
            self._done = True
            raise StopIteration
        err = reply.get("e")
        if err is not None:
            if err.get("c") == "get_timeout":
                raise _runtime._exc.GetTimeoutError("no item within %ss" % timeout)
            self._done = True
            raise _runtime.failure(err)
        r = reply["r"]
        return _runtime.ObjectRef(r[0], r[1], c)

    def next_ready(self, timeout=None):
        """The next item's ObjectRef, waiting at most timeout seconds
        (GetTimeoutError after)."""
        return self._next(timeout)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self._next, None)
        except StopIteration:
            raise StopAsyncIteration from None

    def completed(self):
        """The task's own ObjectRef: it resolves when the generator ends."""
        return self._ref

    def close(self):
        """Ends interest in the items not taken: the task stops at its next
        yield, and those items are freed."""
        self._close(later=False)

    def _close(self, later):
        if self._done:
            return
        self._done = True
        c = _runtime._core
        if c is None or c._closing:
            return
        msg = {"id": self._ref.object_id, "t": -1.0}
        if later:
            c.defer_call("py.stream.close", msg)  # from __del__: no lock may be taken here
        else:
            c.send_async("py.stream.close", msg)  # after the submit that opened the stream

    def __del__(self):
        try:
            self._close(later=True)
        except Exception:  # at interpreter exit
            pass

    def __repr__(self):
        return "ObjectRefGenerator(%s)" % self._ref.object_id
