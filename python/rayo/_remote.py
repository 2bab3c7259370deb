"""@rayo.remote functions (Ray's RemoteFunction) and their options."""

import functools
import hashlib
import inspect

import cloudpickle
import msgpack

from . import _codec, _runtime

# Ray's default for a task: one CPU, three retries after a worker dies.
_TASK_DEFAULTS = {"num_cpus": 1, "max_retries": 3}

TASK_OPTIONS = frozenset([
    "num_cpus", "num_gpus", "memory", "resources", "max_retries", "retry_exceptions", "num_returns", "name",
    "runtime_env", "scheduling_strategy", "placement_group", "placement_group_bundle_index",
    "placement_group_capture_child_tasks", "label_selector", "_generator_backpressure_num_objects",
])


def _check_options(opts, allowed, what):
    bad = sorted(set(opts) - allowed)
    if bad:
        raise ValueError("%s does not take the option%s %s" % (what, "s" if len(bad) > 1 else "", ", ".join(bad)))
    for k in ("num_cpus", "num_gpus", "memory"):
        v = opts.get(k)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0):
            raise ValueError("%s must be a number at least 0, not %r" % (k, v))
    r = opts.get("max_retries")
    if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < -1):
        raise ValueError("max_retries must be an int at least -1, not %r" % (r,))
    n = opts.get("num_returns")
    if n == "dynamic":
        raise NotImplementedError('num_returns="dynamic" is not supported by rayo: use num_returns="streaming"')
    if n is not None and n != "streaming" and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
        raise ValueError('num_returns must be an int at least 0 or "streaming", not %r' % (n,))
    rex = opts.get("retry_exceptions")
    if rex is not None and not isinstance(rex, bool):
        if not isinstance(rex, (list, tuple)) or not rex or not all(
                isinstance(c, type) and issubclass(c, BaseException) for c in rex):
            raise ValueError("retry_exceptions must be a bool or a list of exception classes, not %r" % (rex,))
    bp = opts.get("_generator_backpressure_num_objects")
    if bp is not None and (not isinstance(bp, int) or isinstance(bp, bool) or bp < -1):
        raise ValueError("_generator_backpressure_num_objects must be an int, not %r" % (bp,))


def resources_of(opts):
    """The resource map of num_cpus, num_gpus, memory and resources."""
    res = dict(opts.get("resources") or {})
    for k in ("CPU", "GPU", "memory"):
        if k in res:
            raise ValueError("resources must not name %s: use num_cpus, num_gpus or memory" % k)
    if opts.get("num_cpus"):
        res["CPU"] = opts["num_cpus"]
    if opts.get("num_gpus"):
        res["GPU"] = opts["num_gpus"]
    if opts.get("memory"):
        res["memory"] = opts["memory"]
    return {k: float(v) for k, v in res.items()}


def task_options(o):
    """A task's options as py.submit takes them (internal/pybridge's
    submitOpts): resources, retries, name, env_vars and placement."""
    opts = {"res": resources_of(o), "retries": o.get("max_retries", 3)}
    if o.get("retry_exceptions"):
        opts["rex"] = True
    if o.get("name"):
        opts["name"] = o["name"]
    return add_env_and_placement(opts, o)


def add_env_and_placement(m, o):
    """Adds the env_vars and scheduling options of o to the request m, the
    same for tasks and actors, and returns m."""
    env = env_vars_of(o)
    if env:
        m["env"] = env
    strat = strategy_of(o)
    if strat:
        m["strat"] = strat
    return m


def env_vars_of(opts):
    """A call's runtime_env: its env_vars (per-call working_dir and
    py_modules are not supported: give them to rayo.init)."""
    renv = opts.get("runtime_env") or {}
    extra = set(renv) - {"env_vars"}
    if extra:
        raise NotImplementedError("a task's or actor's runtime_env takes env_vars only in rayo, not %s: give "
                                  "working_dir and py_modules to rayo.init" % ", ".join(sorted(extra)))
    return {str(k): str(v) for k, v in (renv.get("env_vars") or {}).items()}


def strategy_of(opts):
    """The wire form of a call's scheduling options (internal/pybridge's
    wireStrategy), or None for the default."""
    from .util import scheduling_strategies as ss
    from .util.placement_group import PlacementGroup

    st = opts.get("scheduling_strategy")
    out = {}
    if opts.get("placement_group") not in (None, "default"):
        if st is not None:
            raise ValueError("give scheduling_strategy or placement_group, not both")
        st = ss.PlacementGroupSchedulingStrategy(opts["placement_group"], opts.get("placement_group_bundle_index", -1),
                                                 opts.get("placement_group_capture_child_tasks"))
    elif opts.get("placement_group_bundle_index") not in (None, -1):
        raise ValueError("placement_group_bundle_index needs placement_group")
    if st is None or st == "DEFAULT":
        pass
    elif st == "SPREAD":
        out["k"] = "SPREAD"
    elif isinstance(st, ss.PlacementGroupSchedulingStrategy):
        pg = st.placement_group
        if not isinstance(pg, PlacementGroup):
            raise ValueError("PlacementGroupSchedulingStrategy needs a PlacementGroup, not %r" % (pg,))
        if st.placement_group_capture_child_tasks:
            raise NotImplementedError("placement_group_capture_child_tasks is not supported by rayo")
        b = st.placement_group_bundle_index
        if not isinstance(b, int) or b < -1:
            raise ValueError("placement_group_bundle_index must be an int at least -1, not %r" % (b,))
        out["pg"], out["b"] = pg.id, b
    elif isinstance(st, ss.NodeAffinitySchedulingStrategy):
        if not st.node_id:
            raise ValueError("NodeAffinitySchedulingStrategy needs a node_id")
        out.update({"k": "NODE_AFFINITY", "node": st.node_id, "soft": bool(st.soft)})
    elif isinstance(st, ss.NodeLabelSchedulingStrategy):
        if st.soft:
            raise NotImplementedError("soft label constraints are not supported by rayo")
        out["labels"] = _selector(st.hard)
    else:
        raise ValueError("unknown scheduling_strategy %r" % (st,))
    if opts.get("label_selector"):
        sel = _selector(opts["label_selector"])
        out["labels"] = out["labels"] + "," + sel if out.get("labels") else sel
    if out and "b" not in out:
        out["b"] = -1
    return out or None


def _selector(labels):
    """A dict of label constraints as rayo's label selector syntax."""
    from .util import scheduling_strategies as ss

    parts = []
    for k, v in dict(labels).items():
        if isinstance(v, ss.In):
            parts.append("%s in (%s)" % (k, ",".join(map(str, v.values))))
        elif isinstance(v, ss.NotIn):
            parts.append("%s notin (%s)" % (k, ",".join(map(str, v.values))))
        elif isinstance(v, ss.Exists):
            parts.append(k)
        elif isinstance(v, ss.DoesNotExist):
            parts.append("!" + k)
        elif isinstance(v, str) and v.startswith("!"):
            parts.append("%s!=%s" % (k, v[1:]))
        else:
            parts.append("%s=%s" % (k, v))
    return ",".join(parts)


# A Python caller's first argument says how the values after it split
# into positional and keyword ones: msgpack extension type 5 (which Go
# never writes, so a call from Go, whose arguments are all positional,
# is told apart).
LAYOUT_EXT = 5


# Arguments larger than this go to the object store and travel by
# reference, as Ray's do (100 KiB): a submit stays small, and a value of
# any size can be passed.
ARG_INLINE = 100 << 10


def encode_args(args, kwargs, layout=True, retry_exceptions=None, keep=None):
    """A call's arguments as the core takes them: a layout first (the
    number of positional ones, the keyword names, and the exception
    classes retry_exceptions names, pickled, when it is a list), then
    each value; without layout (a call of Go) positional values only. An
    ObjectRef at the top level travels as a reference, resolved to its
    value before the task runs, as in Ray. A value over ARG_INLINE is put
    first and travels as a reference too; its ObjectRef is appended to
    keep, which the caller holds until the core has the call."""
    out = []
    if layout:
        lay = [len(args), list(kwargs)]
        if isinstance(retry_exceptions, (list, tuple)):
            lay.append(cloudpickle.dumps(tuple(retry_exceptions)))
        out.append({"v": msgpack.packb(msgpack.ExtType(LAYOUT_EXT, msgpack.packb(lay, use_bin_type=True)))})
    elif kwargs:
        raise TypeError("a Go function or method takes positional arguments only")
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, _runtime.ObjectRef):
            out.append({"r": [a.object_id, a.owner_address]})
            continue
        parts, nested = _codec.dumps_parts_noting(a)
        if keep is not None and sum(memoryview(p).nbytes for p in parts) > ARG_INLINE:
            ref = _runtime.put_parts(parts, nested)
            keep.append(ref)
            out.append({"r": [ref.object_id, ref.owner_address]})
            continue
        m = {"v": _codec._join(parts)}
        if nested:
            m["n"] = [[r.object_id, r.owner_address] for r in nested]
        out.append(m)
    return out


def _layout(value):
    """The layout a call's first argument holds, or None (a Go caller's)."""
    if len(value) < 3 or value[0] not in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xC7, 0xC8, 0xC9):
        return None
    try:
        ext = msgpack.unpackb(value)
    except ValueError:
        return None
    if not isinstance(ext, msgpack.ExtType) or ext.code != LAYOUT_EXT:
        return None
    return msgpack.unpackb(ext.data, raw=False)


def decode_args(core, values, refs=None):
    """The inverse of encode_args, in a worker: positional arguments,
    keyword arguments, and the classes of exceptions to retry (None: any,
    as retry_exceptions=True says, or the caller did not say). refs[i],
    when set, stands for values[i]: a large stored argument, got here as a
    view of the store."""
    def value(i):
        if refs and refs[i]:
            return core.get_borrowed(refs[i])
        return core.decode(values[i])

    layout = _layout(values[0]) if values and values[0] is not None else None
    if layout is None:
        return [value(i) for i in range(len(values))], {}, None
    n, names = layout[0], layout[1]
    retry_on = cloudpickle.loads(layout[2]) if len(layout) > 2 and layout[2] else None
    vals = [value(i) for i in range(1, len(values))]
    if n + len(names) != len(vals):
        raise ValueError("argument layout of %d+%d for %d values" % (n, len(names), len(vals)))
    return vals[:n], dict(zip(names, vals[n:])), retry_on


def export(core, fn):
    """Puts fn in the job's function table once and returns its ID (the
    pickle's hash: the same function exported twice is one entry)."""
    fid = core.functions.get(fn)
    if fid is None:
        pickled = cloudpickle.dumps(fn)
        fid = hashlib.sha256(pickled).hexdigest()[:32]
        core.call("py.fn.put", {"id": fid, "v": pickled})
        core.functions[fn] = fid
    return fid


def qualified_name(fn):
    return "%s.%s" % (getattr(fn, "__module__", "") or "", getattr(fn, "__qualname__", getattr(fn, "__name__", "f")))


class RemoteFunction:
    """A function run as a task (Ray's RemoteFunction): f.remote(...)
    returns an ObjectRef; f.options(...) one with other options."""

    def __init__(self, fn, options):
        if inspect.iscoroutinefunction(fn):
            raise TypeError("an async def function cannot be a rayo task (async methods of actors can)")
        _check_options(options, TASK_OPTIONS, "a remote function")
        self._function = fn
        self._options = options
        self._name = qualified_name(fn)
        self._pickled = None  # (core, ID): exported per connection
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        raise TypeError("remote function %s cannot be called directly: use %s.remote()" % (self._name, self._name.rsplit(".", 1)[-1]))

    def options(self, **opts):
        _check_options(opts, TASK_OPTIONS, "a remote function")
        merged = dict(self._options)
        merged.update(opts)
        f = RemoteFunction.__new__(RemoteFunction)
        f.__dict__.update(self.__dict__)
        f._options = merged
        return f

    def remote(self, *args, **kwargs):
        core = _runtime.current()
        o = dict(_TASK_DEFAULTS)
        o.update(self._options)
        fid = export(core, self._function)
        nret = o.get("num_returns", 1)
        if nret == 0:
            raise ValueError("num_returns=0 is not supported: return None instead")
        streaming = nret == "streaming"
        opts = task_options(o)
        opts["nret"] = 0 if streaming or nret == 1 else nret
        if streaming:
            opts["stream"] = {"bp": max(o.get("_generator_backpressure_num_objects") or 0, 0)}
        tid = core.new_task_id()
        keep = []
        core.submit({"id": tid, "f": fid, "d": self._name, "a": encode_args(args, kwargs, True, o.get("retry_exceptions"), keep),
                     "o": opts}, keep=keep)
        if streaming:
            from ._generator import ObjectRefGenerator
            return ObjectRefGenerator(_runtime.ObjectRef(tid, core.address, core))
        if nret == 1:
            return _runtime.ObjectRef(tid, core.address, core)
        return [_runtime.ObjectRef(tid if i == 0 else "%s.%d" % (tid, i), core.address, core) for i in range(nret)]
