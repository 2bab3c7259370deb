"""Actors: @rayo.remote classes (Ray's ActorClass), their handles and
methods."""

import inspect

from . import _codec, _runtime
from ._remote import _check_options, add_env_and_placement, encode_args, export, resources_of

ACTOR_OPTIONS = frozenset([
    "num_cpus", "num_gpus", "memory", "resources", "name", "namespace", "lifetime", "get_if_exists",
    "max_restarts", "max_task_retries", "max_concurrency", "runtime_env", "scheduling_strategy", "placement_group",
    "placement_group_bundle_index", "placement_group_capture_child_tasks", "label_selector",
])
METHOD_OPTIONS = frozenset(["name", "num_returns", "max_task_retries", "retry_exceptions",
                            "_generator_backpressure_num_objects"])

# The class names of Python actors begin so (internal/pybridge); any
# other class is Go's.
PYTHON_CLASS_PREFIX = "rayo.py/"

# Ray's default for an async actor: this many calls at once.
ASYNC_MAX_CONCURRENCY = 1000


def is_async_class(cls):
    return any(inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m)
               for _, m in inspect.getmembers(cls, predicate=inspect.isfunction))


class ActorClass:
    """A class whose instances are actors: Cls.remote(...) starts one and
    returns its ActorHandle; Cls.options(...) one with other options."""

    def __init__(self, cls, options):
        _check_actor_options(options)
        self._cls = cls
        self._options = options
        self.__name__ = cls.__name__
        self.__qualname__ = getattr(cls, "__qualname__", cls.__name__)
        self.__module__ = cls.__module__
        self.__doc__ = cls.__doc__

    def __call__(self, *args, **kwargs):
        raise TypeError("actor class %s cannot be instantiated directly: use %s.remote()" % (self.__name__, self.__name__))

    def options(self, **opts):
        _check_actor_options(opts)
        merged = dict(self._options)
        merged.update(opts)
        return ActorClass(self._cls, merged)

    def remote(self, *args, **kwargs):
        core = _runtime.current()
        o = self._options
        fid = export(core, self._cls)
        maxc = o.get("max_concurrency")
        if maxc is None:
            maxc = ASYNC_MAX_CONCURRENCY if is_async_class(self._cls) else 1
        keep = []  # large arguments put first: held until the core has them
        m = new_actor_message("%s%s/%s" % (PYTHON_CLASS_PREFIX, fid, self.__qualname__),
                              encode_args(args, kwargs, keep=keep), o, maxc)
        return _handle(core, core.call("py.actor.new", m))


def new_actor_message(class_name, args, o, max_concurrency):
    """py.actor.new's request (internal/pybridge's actorNewReq)."""
    lifetime = o.get("lifetime")
    if lifetime not in (None, "detached", "non_detached"):
        raise ValueError("lifetime must be None, 'detached' or 'non_detached', not %r" % (lifetime,))
    m = {"c": class_name, "a": args, "res": resources_of(o), "maxrs": o.get("max_restarts", 0),
         "maxtr": o.get("max_task_retries", 0), "maxc": max_concurrency}
    for key, opt in (("name", "name"), ("ns", "namespace")):
        if o.get(opt):
            m[key] = o[opt]
    if lifetime == "detached":
        m["detached"] = True
    if o.get("get_if_exists"):
        m["getex"] = True
    return add_env_and_placement(m, o)


def _check_actor_options(opts):
    _check_options(opts, ACTOR_OPTIONS, "an actor class")
    for k in ("max_restarts", "max_task_retries"):
        v = opts.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < -1):
            raise ValueError("%s must be an int at least -1, not %r" % (k, v))
    v = opts.get("max_concurrency")
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
        raise ValueError("max_concurrency must be an int at least 1, not %r" % (v,))


def _handle(core, reply):
    scope = reply.get("scope")
    ref = _runtime.ObjectRef(scope[0], scope[1], core) if scope else None
    return ActorHandle(reply["id"], reply["c"], ref)


class ActorHandle:
    """A handle to an actor (Ray's ActorHandle): h.method.remote(...).
    Handles travel in arguments and values; those of an actor this
    program created keep it alive while any exists (Ray's scoping)."""

    __rayo_actor__ = True

    def __init__(self, actor_id, class_name, scope=None):
        self._actor_id = actor_id
        self._class = class_name
        self._scope = scope  # ObjectRef standing for the handles, or None

    @property
    def class_name(self):
        if self._class.startswith(PYTHON_CLASS_PREFIX):
            return self._class.rsplit("/", 1)[-1]
        return self._class

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return ActorMethod(self, name, {})

    def __repr__(self):
        return "Actor(%s, %s)" % (self.class_name, self._actor_id)

    def __eq__(self, other):
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __hash__(self):
        return hash(self._actor_id)

    def __reduce__(self):
        if self._scope is not None:
            _codec.note_ref(self._scope)
            return (_rebuild_handle, (self._actor_id, self._class, self._scope.object_id, self._scope.owner_address))
        return (_rebuild_handle, (self._actor_id, self._class))

    # The value format's actor handle (ext type 2): _codec asks for these.
    def _rayo_parts(self):
        if self._scope is None:
            return [self._actor_id, self._class]
        _codec.note_ref(self._scope)
        return [self._actor_id, self._class, self._scope.object_id, self._scope.owner_address]


def _rebuild_handle(actor_id, class_name, scope_id=None, scope_owner=None):
    scope = _runtime._decoded_ref(scope_id, scope_owner) if scope_id else None
    return ActorHandle(actor_id, class_name, scope)


class ActorMethod:
    """h.method: .remote(...) calls it, .options(...) sets per-call options."""

    def __init__(self, handle, name, options):
        self._handle, self._name, self._options = handle, name, options

    def options(self, **opts):
        _check_options(opts, METHOD_OPTIONS, "an actor method")
        merged = dict(self._options)
        merged.update(opts)
        return ActorMethod(self._handle, self._name, merged)

    def remote(self, *args, **kwargs):
        core = _runtime.current()
        o = self._options
        nret = o.get("num_returns", 1)
        if nret not in (1, "streaming"):
            raise NotImplementedError("num_returns other than 1 and \"streaming\" on actor methods is not available in rayo yet")
        h = self._handle
        tid = core.new_task_id()
        keep = []
        m = {"id": tid, "actor": h._actor_id, "c": h._class, "m": self._name,
             "a": encode_args(args, kwargs, h._class.startswith(PYTHON_CLASS_PREFIX), o.get("retry_exceptions"), keep),
             "name": o.get("name") or "%s.%s" % (h.class_name, self._name)}
        if h._scope is not None:
            m["scope"] = [h._scope.object_id, h._scope.owner_address]
        if o.get("max_task_retries") is not None:
            m["retries"] = o["max_task_retries"]
        if o.get("retry_exceptions"):
            m["rex"] = True
        if nret == "streaming":
            m["stream"] = {"bp": max(o.get("_generator_backpressure_num_objects") or 0, 0)}
        core.submit(m, "py.actor.call", keep)
        ref = _runtime.ObjectRef(tid, core.address, core)
        if nret == "streaming":
            from ._generator import ObjectRefGenerator
            return ObjectRefGenerator(ref)
        return ref


def get_actor(name, namespace=None):
    core = _runtime.current()
    if not name:
        raise ValueError("get_actor needs a name")
    m = {"name": name}
    if namespace:
        m["ns"] = namespace
    try:
        return _handle(core, core.call("py.actor.get", m))
    except _runtime._exc.RayError as e:
        raise ValueError("Failed to look up actor with name '%s': %s" % (name, e)) from None


def kill(actor, *, no_restart=True):
    if not isinstance(actor, ActorHandle):
        raise ValueError("rayo.kill takes an actor handle, not a %s" % type(actor).__name__)
    _runtime.current().call("py.kill", {"id": actor._actor_id, "norestart": bool(no_restart)})
