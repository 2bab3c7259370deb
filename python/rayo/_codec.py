"""rayo's value format (docs/encoding.md), in Python.

Values both languages know (None, bool, int, float, str, bytes, lists,
tuples, dicts, object references, actor handles) encode to exactly the
bytes Go writes for them; 1-D numpy arrays of fixed-size numbers use the
raw form and decode as read-only views of the buffer, not copies; every
other Python object is pickled (cloudpickle, protocol 5) into msgpack
extension type 4, which Go refuses with codec.ErrPythonObject.
internal/codec/testdata/golden pins the bytes for both languages.
"""

import dataclasses
import functools
import pickle
import struct
import threading

import cloudpickle
import msgpack
import numpy as np

__all__ = ["dumps", "dumps_parts", "dumps_noting", "dumps_parts_noting", "loads", "note_ref", "CodecError", "ObjectRefData", "ActorHandleData", "PassableData"]

REF_EXT = 1
ACTOR_EXT = 2
PASSABLE_EXT = 3
PYTHON_EXT = 4

RAW_MAGIC = 0xC1  # a byte msgpack never produces
RAW_KIND = 1
RAW_HEADER = 8
# Byte 3 of a raw uint8 value: Go writes 0 (a []byte, read here as
# bytes); 1 marks a numpy uint8 array, so that it comes back as one.
RAW_NUMPY_UINT8 = 1

# Element type codes of the raw form, by numpy dtype string (rayo runs on
# little-endian machines only, so '<' is the native order).
_RAW_CODES = {"|u1": 1, "|i1": 2, "<i2": 3, "<u2": 4, "<i4": 5, "<u4": 6, "<i8": 7, "<u8": 8, "<f4": 9, "<f8": 10}
_RAW_DTYPES = {code: np.dtype(s) for s, code in _RAW_CODES.items()}

# Ext type 4's payload header: version, 3 zero bytes, buffer count (u32),
# pickle length (u64); then a (offset u64, length u64) entry per buffer.
_PY_HEADER = struct.Struct("<B3xIQ")
_PY_ENTRY = struct.Struct("<QQ")
_PY_VERSION = 1
# A top-level ext type 4 is always written as ext 32 (0xc9, a 4-byte
# length, the type), so its payload starts at this offset of the value
# and the writer can place buffers on 64-byte boundaries of the value.
_EXT32_HEADER = 6
_BUFFER_ALIGN = 64


class CodecError(ValueError):
    """A value that cannot be encoded, or bytes that are not a rayo value."""


@dataclasses.dataclass(frozen=True)
class ObjectRefData:
    """An object reference as it crosses the wire (ext type 1)."""

    object_id: str
    owner_address: str


@dataclasses.dataclass(frozen=True)
class ActorHandleData:
    """An actor handle as it crosses the wire (ext type 2). A handle with a
    scope object keeps its actor alive while the receiver holds it."""

    actor_id: str
    class_name: str
    scope_object_id: str = None
    scope_owner: str = None


@dataclasses.dataclass(frozen=True)
class PassableData:
    """A Go registered task, actor type, method or placement group (ext
    type 3), kept as its opaque payload: Python passes it on unchanged."""

    payload: bytes


# The references a dumps_noting call met, per thread (None outside one).
_noting = threading.local()


def note_ref(ref):
    """Records ref as held by the value being encoded (a live reference's
    __reduce__ calls it from inside a pickle)."""
    refs = getattr(_noting, "refs", None)
    if refs is not None:
        refs.append(ref)


def dumps_noting(value):
    """dumps(value) and the object references the value holds, in the
    msgpack form or inside pickled objects."""
    parts, refs = dumps_parts_noting(value)
    return _join(parts), refs


def dumps_parts_noting(value):
    """dumps_parts(value) and the object references the value holds."""
    outer = getattr(_noting, "refs", None)
    _noting.refs = []
    try:
        parts = dumps_parts(value)
        return parts, _noting.refs
    finally:
        _noting.refs = outer


def _join(parts):
    return parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)


class _NotShared(Exception):
    """Raised inside msgpack's packer: the value needs the pickle form."""


def _shared_default(obj):
    # strict_types sends subclasses here too (IntEnum, namedtuple,
    # OrderedDict...): they are pickled, so they come back as themselves.
    t = type(obj)
    if t is tuple:
        return list(obj)
    if t is ObjectRefData or getattr(t, "__rayo_ref__", False):
        note_ref(obj)
        return msgpack.ExtType(REF_EXT, msgpack.packb([obj.object_id, obj.owner_address]))
    if getattr(t, "__rayo_actor__", False):
        return msgpack.ExtType(ACTOR_EXT, msgpack.packb(obj._rayo_parts()))
    if t is ActorHandleData:
        parts = [obj.actor_id, obj.class_name]
        if obj.scope_object_id is not None:
            parts += [obj.scope_object_id, obj.scope_owner or ""]
        return msgpack.ExtType(ACTOR_EXT, msgpack.packb(parts))
    if t is PassableData:
        return msgpack.ExtType(PASSABLE_EXT, bytes(obj.payload))
    raise _NotShared


def _raw_header(code, flag=0):
    return bytes((RAW_MAGIC, RAW_KIND, code, flag, 0, 0, 0, 0))


def dumps(value) -> bytes:
    """Encodes value in rayo's value format."""
    return _join(dumps_parts(value))


def dumps_parts(value):
    """dumps(value) as a list of buffers to write one after the other (a
    large array's memory among them, not copied), for a writer that
    places the value itself (into the object store)."""
    t = type(value)
    if t is bytes:
        # As Go stores a []byte result or Put: raw, readable in place.
        return [_raw_header(_RAW_CODES["|u1"]), value]
    if t is np.ndarray and value.ndim == 1 and value.dtype.str in _RAW_CODES:
        code = _RAW_CODES[value.dtype.str]
        flag = RAW_NUMPY_UINT8 if code == 1 else 0
        return [_raw_header(code, flag), memoryview(np.ascontiguousarray(value)).cast("B")]
    try:
        return [msgpack.packb(value, use_bin_type=True, strict_types=True, default=_shared_default)]
    except (_NotShared, OverflowError, ValueError):
        # Not a shared form, an int beyond 64 bits, a str with lone
        # surrogates, nesting deeper than msgpack's limit or a cycle.
        return _dumps_pickled(value)


def _dumps_pickled(value):
    buffers = []
    try:
        pickled = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        raws = [b.raw() for b in buffers]
    except Exception as e:
        raise CodecError(f"rayo cannot encode a {type(value).__name__}: {e}") from e
    table_end = _PY_HEADER.size + _PY_ENTRY.size * len(raws)
    parts = [None, None, pickled]  # the ext header and payload header go first
    entries = []
    end = table_end + len(pickled)
    for raw in raws:
        # Place the buffer on a 64-byte boundary of the value.
        off = -(-(_EXT32_HEADER + end) // _BUFFER_ALIGN) * _BUFFER_ALIGN - _EXT32_HEADER
        parts.append(bytes(off - end))
        parts.append(raw)
        entries.append((off, raw.nbytes))
        end = off + raw.nbytes
    if end > 0xFFFFFFFF:
        raise CodecError(f"rayo cannot encode a {type(value).__name__}: {end} bytes pickled, over msgpack's 4 GiB ext limit")
    parts[0] = struct.pack(">BIb", 0xC9, end, PYTHON_EXT)
    parts[1] = _PY_HEADER.pack(_PY_VERSION, len(raws), len(pickled)) + b"".join(_PY_ENTRY.pack(*e) for e in entries)
    return parts


def loads(data, ref_factory=None, actor_factory=None):
    """Decodes a value encoded by dumps or by Go. Raw arrays and pickled
    buffers are read-only views of data, not copies. ref_factory(object_id,
    owner_address) makes what an object reference decodes to
    (ObjectRefData by default), actor_factory(actor_id, class_name,
    scope_object_id=None, scope_owner=None) an actor handle's
    (ActorHandleData)."""
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(f"rayo: loads takes bytes-like data, not a {type(data).__name__}") from None
    if not mv.c_contiguous:
        raise CodecError("rayo: loads needs contiguous data")
    mv = mv.cast("B").toreadonly()
    if len(mv) == 0:
        raise CodecError("rayo: no data: an empty buffer is no value")
    if mv[0] == RAW_MAGIC:
        return _load_raw(mv)
    hook = _ext_hook
    if ref_factory is not None or actor_factory is not None:
        hook = functools.partial(_ext_hook, ref_factory=ref_factory or ObjectRefData,
                                 actor_factory=actor_factory or ActorHandleData)
    if len(mv) >= _EXT32_HEADER and mv[0] == 0xC9 and mv[5] == PYTHON_EXT:
        n = int.from_bytes(mv[1:5], "big")
        if _EXT32_HEADER + n != len(mv):
            raise CodecError(f"rayo: a pickled value of {n} bytes in {len(mv) - _EXT32_HEADER}")
        return _load_pickled(mv[_EXT32_HEADER:])
    try:
        return _unpack(mv, None, hook)
    except TypeError:
        # A map key that is an array (a Go [2]int, a Python tuple): a
        # list cannot be a dict key, a tuple can.
        try:
            return _unpack(mv, _pairs_to_dict, hook)
        except TypeError as e:
            raise CodecError(f"rayo: a map key Python cannot hash: {e}") from None


def _unpack(mv, pairs_hook, ext_hook):
    try:
        return msgpack.unpackb(mv, raw=False, strict_map_key=False, ext_hook=ext_hook, object_pairs_hook=pairs_hook)
    except CodecError:
        raise
    except (ValueError, msgpack.UnpackException) as e:
        raise CodecError(f"rayo: not a rayo value: {e}") from None


def _freeze(key):
    return tuple(_freeze(k) for k in key) if type(key) is list else key


def _pairs_to_dict(pairs):
    return {_freeze(k): v for k, v in pairs}


def _load_raw(mv):
    if len(mv) < RAW_HEADER or mv[1] != RAW_KIND:
        raise CodecError("rayo: a raw value's header is short or of an unknown kind")
    dtype = _RAW_DTYPES.get(mv[2])
    if dtype is None:
        raise CodecError(f"rayo: raw value with unknown element type {mv[2]}")
    data = mv[RAW_HEADER:]
    if len(data) % dtype.itemsize:
        raise CodecError(f"rayo: raw value of {len(data)} bytes is not a whole number of {dtype.name}")
    if dtype.itemsize == 1 and dtype.kind == "u" and mv[3] != RAW_NUMPY_UINT8:
        return bytes(data)  # a Go []byte: Python's bytes owns its memory, so this copies
    return np.frombuffer(data, dtype=dtype)  # read-only: data is


def _ext_hook(code, data, ref_factory=ObjectRefData, actor_factory=ActorHandleData):
    if code in (REF_EXT, ACTOR_EXT):
        try:
            parts = msgpack.unpackb(data, raw=False)
        except ValueError:
            parts = None
        ok = type(parts) is list and all(type(p) is str for p in parts) and parts and parts[0]
        if code == REF_EXT and ok and len(parts) == 2:
            return ref_factory(*parts)
        if code == ACTOR_EXT and ok and len(parts) in (2, 4):
            return actor_factory(*parts)
        raise CodecError(f"rayo: malformed {'object reference' if code == REF_EXT else 'actor handle'} (msgpack ext {code})")
    if code == PASSABLE_EXT:
        return PassableData(data)
    if code == PYTHON_EXT:
        # Nested in msgpack: data is msgpack's copy of the payload.
        return _load_pickled(memoryview(data))
    raise CodecError(f"rayo: unknown msgpack extension type {code}")


def _load_pickled(payload):
    if len(payload) < _PY_HEADER.size:
        raise CodecError("rayo: a pickled value's header is short")
    version, count, plen = _PY_HEADER.unpack_from(payload)
    if version != _PY_VERSION:
        raise CodecError(f"rayo: pickled value of unknown version {version}")
    start = _PY_HEADER.size + _PY_ENTRY.size * count
    if start + plen > len(payload):
        raise CodecError("rayo: a pickled value is truncated")
    buffers = []
    for i in range(count):
        off, n = _PY_ENTRY.unpack_from(payload, _PY_HEADER.size + _PY_ENTRY.size * i)
        if off < start + plen or off + n > len(payload):
            raise CodecError(f"rayo: a pickled value's buffer {i} lies outside it")
        buffers.append(payload[off : off + n])
    try:
        return pickle.loads(payload[start : start + plen], buffers=buffers)
    except Exception as e:
        raise CodecError(f"rayo: cannot unpickle a value: {e}") from e
