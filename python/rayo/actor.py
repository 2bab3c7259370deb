"""rayo.actor: exit_actor (Ray's ray.actor.exit_actor) and the actor
types under Ray's module names."""

from ._actor import ActorClass, ActorHandle, ActorMethod

__all__ = ["exit_actor", "ActorClass", "ActorHandle", "ActorMethod"]


class ActorExit(SystemExit):
    """Raised by exit_actor to unwind the running method; the worker ends
    the call normally and the actor exits after it."""


def exit_actor():
    """Ends the running actor once its current method returns (which this
    call makes happen at once): the method's result is None, the actor is
    not restarted, and later calls raise ActorDiedError."""
    from . import _runtime, worker

    t = worker.current_task()
    if t is None or not t.get("actor"):
        raise TypeError("exit_actor called outside an actor")
    _runtime.current().call("py.actor.exit", {"id": t["id"]})
    raise ActorExit(0)
