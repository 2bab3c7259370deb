"""This process's connection to the core, and object references.

A driver's core is a `rayo python-bridge` child (started by init); a
worker's is the rayo worker that started it. Either way the core is a Go
process at the other end of private socket pairs, reached with the calls
of internal/pybridge (py.put, py.get, py.submit, ...).
"""

import atexit
import json
import mmap
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time

import msgpack

from . import _codec, _rpc
from . import exceptions as _exc

# How long rayo.init waits for its bridge to join or start the cluster.
INIT_TIMEOUT = 120.0
# Releases of collected ObjectRefs are sent in batches: at this many, or
# after RELEASE_DELAY seconds.
RELEASE_BATCH = 256
RELEASE_DELAY = 0.1
# Task IDs reserved at a time.
ID_BLOCK = 1024

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n):
    """n as Go's strconv.FormatUint(n, 36) writes it."""
    if n == 0:
        return "0"
    out = []
    while n:
        n, d = divmod(n, 36)
        out.append(_DIGITS[d])
    return "".join(reversed(out))


def _pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def _unpack(b):
    return msgpack.unpackb(b, raw=False)


class Core:
    """The connection to the Go core, with its calls."""

    def __init__(self, conn, info, proc=None):
        self.conn = conn
        self.proc = proc  # the bridge child of a driver
        self.job_id = info["job"]
        self.namespace = info["ns"]
        self.node_id = info["node"]
        self.worker_id = info["worker"]
        self.address = info["addr"]
        self.is_worker = info["is_worker"]
        self._closing = False
        # In a worker: returns the task ID of the call running on this
        # thread or coroutine, if any (a submit's parent).
        self.current_call = None
        self.functions = {}  # function -> its ID in the function table
        self.failed = {}  # task ID -> why its submit failed
        self._id_lock = threading.Lock()
        self._id_prefix, self._id_next, self._id_end = "", 0, 0
        # Submits and actor calls go out in batches (py.submits): one is
        # sent at once when no batch is on its way, else it waits in
        # _batch until that batch's reply (Nagle's algorithm), when the
        # sender thread sends all that waited in one frame. A call of
        # any other kind sends what waits first, under _order, so that
        # frames leave in the order the program made them.
        self._order = threading.Lock()
        self._batch = []
        self._batch_keep = []  # ObjectRefs the batch's calls name, held until it is handled
        self._batch_in_flight = False
        self._send_waiting = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="rayo-submit", daemon=True)
        self._sender.start()
        self._released = []
        self._deferred = []  # (method, message) for the release thread to send
        self._release_lock = threading.Lock()
        self._release_wake = threading.Event()
        self._releaser = threading.Thread(target=self._release_loop, name="rayo-release", daemon=True)
        self._releaser.start()

    def call(self, method, obj, timeout=None):
        payload = _pack(obj)
        try:
            with self._order:
                if self._batch:
                    self._send_batch()
                c = self.conn.send(method, payload)
            return _unpack(self.conn.wait(c, timeout))
        except _rpc.RpcError as e:
            raise _rpc_exception(e) from None
        except _rpc.ConnectionClosed as e:
            raise CoreGone("rayo's core process is gone (%s): call rayo.shutdown() and rayo.init() again" % e) from None

    # --- submitting ---------------------------------------------------

    def new_task_id(self):
        """A task ID from a block the core reserved for this process, so
        that .remote() names its result without waiting for the core."""
        with self._id_lock:
            if self._id_next == self._id_end:
                reply = self.call("py.ids", {"n": ID_BLOCK})
                self._id_prefix, self._id_next, self._id_end = reply["p"], reply["f"], reply["f"] + ID_BLOCK
            n = self._id_next
            self._id_next += 1
        return self._id_prefix + _base36(n)

    def send_async(self, method, obj, keep=None):
        """Sends a call without waiting for its reply, after the submits
        waiting before it; keep (ObjectRefs the call names) stays alive
        until the reply."""
        payload = _pack(obj)
        with self._order:
            if self._batch:
                self._send_batch()
            self.conn.send(method, payload, _ignore_reply if keep is None else (lambda reply, error: keep))

    def submit(self, msg, method="py.submit", keep=None):
        """Sends a submit (or, with method py.actor.call, an actor call)
        without waiting; a refusal is kept for the result's get. keep
        (ObjectRefs of arguments put for it) stays alive until the core
        has the call."""
        if self.current_call is not None:
            parent = self.current_call()
            if parent:
                msg["p"] = parent  # the call that submits: its children, for a recursive cancel
        item = {"t": msg} if method == "py.submit" else {"a": msg}
        with self._order:
            self._batch.append(item)
            if keep:
                self._batch_keep.extend(keep)
            if not self._batch_in_flight:
                self._send_batch()
            elif len(self._batch) == 1:
                # This waits for the reply of the batch on its way, which
                # its lazy send left for a waiting caller: have it read now.
                self.conn.read_pending()

    def _send_batch(self):
        """Sends what waits in _batch as one py.submits (_order held)."""
        items, self._batch = self._batch, []
        held, self._batch_keep = self._batch_keep, []
        ids = [it.get("t", it.get("a"))["id"] for it in items]
        self._batch_in_flight = True

        def done(reply, error):  # on the thread that reads the reply: must not block
            del held[:]  # the core counts the arguments now
            if error is not None:
                e = _rpc_exception(error) if isinstance(error, _rpc.RpcError) else error
                for tid in ids:
                    self.failed[tid] = e
            else:
                for f in _unpack(reply).get("f") or ():
                    self.failed[ids[f["i"]]] = _rpc_exception(_rpc._error(f["c"], f["m"]))
            # The batch is handled: nothing waits, or the sender thread
            # sends what does (this thread must not block on a send).
            if not self._batch and self._order.acquire(False):
                try:
                    if not self._batch:
                        self._batch_in_flight = False
                        return
                finally:
                    self._order.release()
            self._send_waiting.set()
        # Lazy: the reply is read by this program's next wait (a get soon
        # after the submit), not handed over by the reader thread, unless
        # a submit comes first and waits for it (submit).
        self.conn.send("py.submits", _pack({"s": items}), done, lazy=True)

    def _send_loop(self):
        while not self._closing:
            self._send_waiting.wait()
            self._send_waiting.clear()
            try:
                with self._order:
                    if self._batch:
                        self._send_batch()
                    else:
                        self._batch_in_flight = False
            except (_rpc.ConnectionClosed, OSError):
                return

    def check_submitted(self, refs):
        """Raises the error of a refused submit among refs' tasks."""
        if self.failed:
            for r in refs:
                e = self.failed.get(r.object_id.split(".", 1)[0])
                if e is not None:
                    raise e

    # --- references ---------------------------------------------------

    def defer_call(self, method, obj):
        """Queues a call for the release thread to send (after the submits
        waiting before it): for __del__ methods, which may run while this
        thread holds the ordering lock."""
        self._deferred.append((method, obj))
        self._release_wake.set()

    def release(self, ref):
        """Called from ObjectRef.__del__: batched, never blocks."""
        if self.failed:
            self.failed.pop(ref.object_id, None)
        self._released.append([ref.object_id, ref.owner_address])
        if len(self._released) >= RELEASE_BATCH:
            self._release_wake.set()

    def _release_loop(self):
        while not self._closing:
            self._release_wake.wait(RELEASE_DELAY)
            self._release_wake.clear()
            self.flush_releases()

    def flush_releases(self):
        while self._deferred:
            method, obj = self._deferred.pop(0)
            try:
                self.send_async(method, obj)
            except (_rpc.ConnectionClosed, OSError):
                self._deferred.clear()
        with self._release_lock:
            batch, self._released = self._released, []
            if not batch or self.conn.closed:
                return
            try:
                self.call("py.release", {"r": batch})
            except (_rpc.ConnectionClosed, _exc.RayError):
                pass  # the core is gone, and its references with it

    def decode(self, data):
        """Decodes a value, counting the references found in it as held."""
        found = []
        _decoding.refs = found
        try:
            value = _codec.loads(data, ref_factory=_decoded_ref, actor_factory=_decoded_actor)
        finally:
            _decoding.refs = None
        if found:
            self.call("py.add", {"r": [[r.object_id, r.owner_address] for r in found]})
            for r in found:
                r._core = self
        return value

    def get_borrowed(self, pair):
        """The value of an object this process was handed by reference (a
        task's large argument): counted here, then got (a stored one as a
        view of the store that holds the reference)."""
        ref = ObjectRef(pair[0], pair[1])
        self.call("py.add", {"r": [list(pair)]})
        ref._core = self
        return get(ref)

    def close(self):
        try:
            with self._order:  # submits made just before shutdown still go out
                if self._batch:
                    self._send_batch()
        except (_rpc.ConnectionClosed, OSError, ValueError):
            pass
        self._closing = True
        self._release_wake.set()
        self._send_waiting.set()
        self.conn.close()


class CoreGone(_exc.RaySystemError, ConnectionError):
    """The Go process this one reaches the cluster through is gone (a
    driver's bridge, a worker's Go worker)."""


def _ignore_reply(reply, error):
    pass


def _rpc_exception(e):
    """A bridge call's refusal as the exception Ray would raise."""
    m = {"c": e.code, "m": e.message}
    if e.code in ("invalid_option", "bad_call", "actor_name_taken"):
        return ValueError(e.message)
    return _exc.from_wire(m)


# --- object references ----------------------------------------------------

_decoding = threading.local()


class ObjectRef:
    """A reference to an object in the cluster (Ray's ObjectRef). Holding
    it keeps the object alive; the core is told when it is collected."""

    __rayo_ref__ = True
    __slots__ = ("object_id", "owner_address", "_core", "__weakref__")

    def __init__(self, object_id, owner_address, core=None):
        self.object_id = object_id
        self.owner_address = owner_address
        self._core = core  # set once this reference is counted in it

    def __del__(self):
        c = self._core
        if c is not None and not c._closing:
            c.release(self)

    def __reduce__(self):
        _codec.note_ref(self)
        return (_rebuild_ref, (self.object_id, self.owner_address))

    def __await__(self):
        """await ref, in async code (an async actor's method): the value,
        waited for off the event loop."""
        import asyncio

        return asyncio.get_running_loop().run_in_executor(None, get, self).__await__()

    def __eq__(self, other):
        return isinstance(other, ObjectRef) and other.object_id == self.object_id

    def __hash__(self):
        return hash(self.object_id)

    def __repr__(self):
        return "ObjectRef(%s)" % self.object_id

    def hex(self):
        return self.object_id

    def task_id(self):
        return self.object_id.split(".", 1)[0]

    def future(self):
        """A concurrent.futures.Future of the value."""
        import concurrent.futures

        f = concurrent.futures.Future()

        def run():
            try:
                f.set_result(get(self))
            except BaseException as e:  # noqa: B902 - handed to the future
                f.set_exception(e)

        threading.Thread(target=run, daemon=True).start()
        return f


def _decoded_ref(object_id, owner_address):
    r = ObjectRef(object_id, owner_address)
    refs = getattr(_decoding, "refs", None)
    if refs is not None:
        refs.append(r)
    return r


def _decoded_actor(*parts):
    from ._actor import _rebuild_handle
    return _rebuild_handle(*parts)


def _rebuild_ref(object_id, owner_address):
    """Unpickles an ObjectRef: counted when it comes out of a value this
    process decodes; else (a user's own pickle) uncounted."""
    return _decoded_ref(object_id, owner_address)


# --- this process's core ----------------------------------------------------

_state = threading.RLock()
_core = None


def current():
    """The core, or RaySystemError when init has not been called."""
    c = _core
    if c is None:
        raise _exc.RaySystemError("rayo is not initialized: call rayo.init() first")
    return c


def is_initialized():
    return _core is not None


def _package_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_binary():
    b = os.environ.get("RAYO_BINARY") or shutil.which("rayo")
    if not b:
        raise RuntimeError("rayo.init needs the rayo binary: put it on PATH or name it in RAYO_BINARY")
    return b


def start_driver(config):
    """Starts the bridge child with config (bridgeConfig in internal/cli)
    and returns the Core once the bridge has joined or started the
    cluster."""
    global _core
    binary = find_binary()
    ours, theirs = _rpc.bridge_pairs()
    token = secrets.token_hex(32)
    env = dict(os.environ)
    env.update({"RAYO_BRIDGE_FD": "%d,%d" % (theirs[0].fileno(), theirs[1].fileno()), "RAYO_BRIDGE_TOKEN": token,
                "RAYO_BRIDGE_CONFIG": json.dumps(config)})
    try:
        # Its own session: Ctrl-C in the terminal is the driver's
        # KeyboardInterrupt, not the end of the cluster.
        proc = subprocess.Popen([binary, "python-bridge"], pass_fds=[s.fileno() for s in theirs], env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        ours.close()
        raise RuntimeError("rayo.init: starting %s: %s" % (binary, e)) from None
    finally:
        for s in theirs:
            s.close()
    try:
        conn = _rpc._open(ours, "rayo python-bridge", token.encode(), time.monotonic() + 30)
        info = _unpack(conn.call("py.info", _pack({}), INIT_TIMEOUT))
    except BaseException as e:
        ours.close()
        _stop(proc)
        if isinstance(e, _rpc.RpcError):
            raise _exc.RaySystemError("rayo.init: %s" % e.message) from None
        raise
    _core = Core(conn, info, proc)
    atexit.register(shutdown)
    return _core


def connect_worker(fds, token):
    """A worker's connection to the rayo worker that started it, over the
    descriptors fds names (RAYO_BRIDGE_FD)."""
    global _core
    conn = _rpc._open(_rpc.bridge_socket(fds), "rayo worker", token.encode(), time.monotonic() + 30)
    info = _unpack(conn.call("py.info", _pack({}), 30))
    _core = Core(conn, info)
    return _core


def _stop(proc, timeout=30):
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def shutdown():
    """Disconnects; a driver's bridge stops the cluster it started."""
    global _core
    with _state:
        c, _core = _core, None
        if c is None:
            return
        c.flush_releases()
        c.close()
        if c.proc is not None:
            _stop(c.proc)


def driver_config(address, namespace, num_cpus, num_gpus, resources, object_store_memory, runtime_env,
                  log_to_driver, temp_dir, package_env=None):
    env_vars = dict((runtime_env or {}).get("env_vars") or {})
    env_vars.update(package_env or {})
    # The workers import this package and the driver's modules.
    paths = [_package_root(), os.getcwd()]
    if env_vars.get("PYTHONPATH") or os.environ.get("PYTHONPATH"):
        paths.append(env_vars.get("PYTHONPATH") or os.environ["PYTHONPATH"])
    env_vars["PYTHONPATH"] = os.pathsep.join(paths)
    env_vars.setdefault("RAYO_PYTHON", sys.executable or "python3")
    cfg = {"address": address or "", "namespace": namespace or "", "env_vars": env_vars,
           "log_to_driver": bool(log_to_driver), "entrypoint": " ".join([sys.executable or "python3"] + sys.argv)}
    if num_cpus is not None:
        cfg["num_cpus"] = float(num_cpus)
    if num_gpus is not None:
        cfg["num_gpus"] = float(num_gpus)
    if resources:
        cfg["resources"] = {k: float(v) for k, v in resources.items()}
    if object_store_memory:
        cfg["object_store_memory"] = int(object_store_memory)
    if temp_dir:
        cfg["temp_dir"] = temp_dir
    return cfg


# --- objects ------------------------------------------------------------------

def _wire(ref):
    if not isinstance(ref, ObjectRef):
        raise TypeError("expected an ObjectRef, got a %s" % type(ref).__name__)
    return [ref.object_id, ref.owner_address]


# Values at least this large are written into the store in place.
PUT_IN_PLACE = 1 << 20


def put(value):
    if isinstance(value, ObjectRef):
        raise TypeError("rayo.put of an ObjectRef: pass the reference itself instead")
    parts, nested = _codec.dumps_parts_noting(value)
    return put_parts(parts, nested)


def put_parts(parts, nested):
    """put of a value already encoded (dumps_parts_noting)."""
    c = current()
    size = sum(memoryview(p).nbytes for p in parts)
    if size >= PUT_IN_PLACE:
        r = _put_in_place(c, parts, size, nested)
        if r is not None:
            return r
    if size > _rpc.MAX_FRAME - (1 << 20):
        raise ValueError("a value of %d bytes cannot travel to the core in one message (at most %d MiB), and this "
                         "process cannot write the node's store in place" % (size, _rpc.MAX_FRAME >> 20))
    data = _codec._join(parts)
    m = {"v": data}
    if nested:
        m["n"] = [_wire(r) for r in nested]
    reply = c.call("py.put", m)
    r = reply["r"]
    return ObjectRef(r[0], r[1], c)


def get(refs, *, timeout=None):
    c = current()
    single = isinstance(refs, ObjectRef)
    lst = [refs] if single else list(refs)
    if not single and not isinstance(refs, (list, tuple)):
        raise TypeError("rayo.get takes an ObjectRef or a list of them, not a %s" % type(refs).__name__)
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be None or at least 0")
    c.check_submitted(lst)
    reply = c.call("py.get", {"r": [_wire(r) for r in lst], "t": -1.0 if timeout is None else float(timeout),
                              "map": True})
    locs = reply.get("l")
    values = []
    for i, v in enumerate(reply["v"]):
        if locs and locs[i] is not None:
            v = _map_stored(locs[i], lst[i])
        values.append(c.decode(v))
    err = reply.get("e")
    if err is not None:
        c.check_submitted(lst)
        raise failure(err)
    return values[0] if single else values


def _put_in_place(c, parts, size, nested):
    """Writes a large value straight into the node's store (one copy);
    None when this process cannot (the bridge then takes the bytes)."""
    try:
        reply = c.call("py.put.create", {"s": size})
    except ValueError:
        return None  # a core that cannot map its store
    oid, loc = reply["id"], reply["l"]
    try:
        write_stored(loc, parts, size)
    except BaseException:
        c.call("py.put.abort", {"id": oid, "s": size})
        raise
    msg = {"id": oid, "s": size}
    if nested:
        msg["n"] = [_wire(r) for r in nested]
    r = c.call("py.put.seal", msg)["r"]
    return ObjectRef(r[0], r[1], c)


def write_stored(loc, parts, size):
    """Writes parts, size bytes in all, at a store location reserved for
    this process (a mapping of just that range, writable)."""
    off = loc["o"]
    start = off - off % mmap.ALLOCATIONGRANULARITY
    fd = os.open(loc["p"], os.O_RDWR | os.O_CLOEXEC)
    try:
        m = mmap.mmap(fd, size + off - start, prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
    finally:
        os.close(fd)
    try:
        pos = off - start
        for p in parts:
            mv = memoryview(p).cast("B")
            m[pos:pos + mv.nbytes] = mv
            pos += mv.nbytes
    finally:
        m.close()


class _Mapped(mmap.mmap):
    """A read-only mapping of one stored object. It holds the object's
    ObjectRef, so that the object stays in the store (and the mapping
    valid) while any view of it lives: a numpy array read from it is a
    view of the store itself, not a copy (Ray's zero-copy get)."""


def _map_stored(loc, ref):
    path, off, size = loc["p"], loc["o"], loc["s"]
    start = off - off % mmap.ALLOCATIONGRANULARITY
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        m = _Mapped(fd, size + off - start, prot=mmap.PROT_READ, offset=start)
    finally:
        os.close(fd)
    m.ref = ref
    return memoryview(m)[off - start:]


def failure(m):
    """The exception for a failure's wire map (a Python task's carries its
    pickled exception)."""
    if m.get("c") == "get_timeout":
        return _exc.GetTimeoutError(m.get("m", "get timed out"))
    e = _exc.from_wire(m)
    pickled = m.get("d")
    if isinstance(e, _exc.RayTaskError) and pickled:
        try:
            e.cause = _codec.loads(pickled)
        except Exception:  # a class the driver cannot import: keep the text
            e.cause = None
        else:
            if isinstance(e.cause, _exc.RayError) and not isinstance(e.cause, _exc.RayTaskError):
                return e.cause  # rayo's own (RuntimeEnvSetupError), as Ray raises it
            e = e.as_instanceof_cause()
    return e


def wait(refs, *, num_returns=1, timeout=None, fetch_local=True):
    c = current()
    if isinstance(refs, ObjectRef) or not isinstance(refs, (list, tuple)):
        raise TypeError("rayo.wait takes a list of ObjectRefs, not a %s" % type(refs).__name__)
    refs = list(refs)
    for r in refs:
        if not isinstance(r, ObjectRef):
            raise TypeError("rayo.wait takes a list of ObjectRefs, and it holds a %s" % type(r).__name__)
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be None or at least 0, not %r" % (timeout,))
    if not refs:
        return [], []
    if len(set(r.object_id for r in refs)) != len(refs):
        raise ValueError("rayo.wait: the list of refs holds duplicates")
    if num_returns < 1 or num_returns > len(refs):
        raise ValueError("num_returns must be between 1 and the number of refs (%d), not %d" % (len(refs), num_returns))
    c.check_submitted(refs)
    reply = c.call("py.wait", {"r": [_wire(r) for r in refs], "k": num_returns,
                               "t": -1.0 if timeout is None else float(timeout)})
    ready = set(reply["i"][:num_returns])
    return [r for i, r in enumerate(refs) if i in ready], [r for i, r in enumerate(refs) if i not in ready]


def cancel(ref, *, force=False, recursive=True):
    current().call("py.cancel", {"r": _wire(ref), "f": bool(force), "rec": bool(recursive)})
