"""The cluster's transport: a client connection in the Go engine's wire protocol.

docs/encoding.md ("Connections") is the specification and internal/rpc
the Go side. A connection runs over the server's Unix socket within a
machine (when the socket's directory, file and listening process are this
user's) or over TCP, inside TLS 1.3 when the cluster has TLS. The v4 hello
proves the token both ways with HMAC-SHA256: the token itself never
crosses the wire, and nothing derived from it is sent before the server
proved it holds the same token.

A Connection multiplexes calls by call ID; a caller waiting for its
reply reads the socket itself while no other thread does, and a reader
thread reads for callbacks and timed waits (Connection). Go's servers send no requests on a connection a client opened
(internal/rpc's client ignores request frames, as this one does), so
there is no handler hook for server-to-client calls.
"""

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import ssl
import stat
import struct
import sys
import threading
import time
from _thread import allocate_lock as _allocate_lock

import msgpack

from . import _pki

PROTOCOL_VERSION = 4
MAX_FRAME = 256 << 20
MAX_HELLO_FRAME = 4 << 10
# Connection set-up, hello included (Go: rpc.DialTimeout).
DIAL_TIMEOUT = 10.0
# A Unix socket whose server no longer accepts is given up for TCP within
# this (Go: unixHelloTimeout).
UNIX_HELLO_TIMEOUT = 3.0
# The body of a call without a request value.
NIL = b"\xc0"
METHOD_SIGN_CERTIFICATE = "rpc.SignCertificate"

_REQUEST, _RESPONSE, _HELLO, _HELLO_ACK = 1, 2, 3, 4
_FLAG_ERROR = 1
_HEADER = struct.Struct(">IBBQH")  # length of the rest, type, flags, call ID, method length
_MAX_UNIX_PATH = 107


class RpcError(Exception):
    """An error the peer sent: a stable code (internal/protocol/codes.go),
    a message, and code-specific data (bytes, possibly empty)."""

    CODE = None  # the code of a subclass

    def __init__(self, code, message, data=b""):
        super().__init__(code, message, data)
        self.code, self.message, self.data = code, message, data or b""

    def __str__(self):
        return "%s (%s)" % (self.message, self.code)


class Internal(RpcError):
    CODE = "internal"


class Unauthenticated(RpcError):
    CODE = "unauthenticated"


class UnknownMethod(RpcError):
    CODE = "unknown_method"


class BadRequest(RpcError):
    CODE = "bad_request"


class TLSRequired(RpcError):
    CODE = "tls_required"


class CertificateRequired(RpcError):
    CODE = "certificate_required"


# The transport's own codes (internal/rpc/errors.go, tls.go); the other
# codes of internal/protocol/codes.go arrive as RpcError with .code set.
_BY_CODE = {c.CODE: c for c in (Internal, Unauthenticated, UnknownMethod, BadRequest, TLSRequired, CertificateRequired)}


def _error(code, message, data=b""):
    return _BY_CODE.get(code, RpcError)(code, message, data)


def _wire_error(payload):
    e = msgpack.unpackb(payload, raw=False)
    if not isinstance(e, dict) or not isinstance(e.get("c"), str):
        raise ProtocolError("malformed error payload")
    return _error(e["c"], str(e.get("m", "")), e.get("d") or b"")


class ConnectionClosed(ConnectionError):
    """The connection is gone: the peer exited, the network failed, or
    close() was called. Calls in flight may or may not have run."""


class ProtocolError(ConnectionClosed):
    """The peer sent something that is not this protocol."""


class FingerprintMismatch(Exception):
    """The server's CA is not the one with the fingerprint given."""

    def __init__(self, want, got):
        super().__init__("the cluster's CA has fingerprint %s, want %s" % (got, want))
        self.want, self.got = want, got


def _frame(typ, cid=0, method=b"", payload=b"", flags=0):
    return _HEADER.pack(_HEADER.size - 4 + len(method) + len(payload), typ, flags, cid, len(method)) + method + payload


def _pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


class _Socket:
    """A connected stream socket; the reader thread receives while callers send."""

    def __init__(self, sock, network):
        self.sock, self.network = sock, network
        self._send_lock = threading.Lock()  # frames from two threads must not interleave

    def send(self, data):
        with self._send_lock:
            self.sock.sendall(data)

    def recv(self):
        return self.sock.recv(1 << 16)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def shutdown(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        self.sock.close()


class _SplitSocket(_Socket):
    """A connection to a Go process beside this one over two socket pairs,
    one per direction (pybridge's conn.go says why): frames go out on
    out_sock and come in on in_sock."""

    def __init__(self, out_sock, in_sock):
        super().__init__(out_sock, "unix")
        self.in_sock = in_sock

    def recv(self):
        return self.in_sock.recv(1 << 16)

    def settimeout(self, t):
        self.sock.settimeout(t)
        self.in_sock.settimeout(t)

    def shutdown(self):
        for s in (self.sock, self.in_sock):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()
        self.in_sock.close()


def bridge_pairs():
    """The two socket pairs a Python process and a Go process beside it
    talk over: this side's _SplitSocket, and the Go side's ends (read,
    write) to hand to it (close them here once it has them)."""
    requests, requests_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    replies, replies_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return _SplitSocket(requests, replies), (requests_theirs, replies_theirs)


def bridge_socket(fds):
    """This side's _SplitSocket over RAYO_BRIDGE_FD's "READ,WRITE"."""
    try:
        r, w = (int(f) for f in fds.split(","))
        if r < 0 or w < 0 or r == w:
            raise ValueError
    except ValueError:
        raise ValueError("RAYO_BRIDGE_FD must name two descriptors, READ,WRITE (got %r)" % fds) from None
    out_sock = socket.socket(fileno=w)
    try:
        in_sock = socket.socket(fileno=r)
    except BaseException:
        out_sock.close()
        raise
    for s in (out_sock, in_sock):
        # Not for the programs a task starts: one of them holding the
        # pair open would keep the Go side from seeing this process end.
        s.set_inheritable(False)
    return _SplitSocket(out_sock, in_sock)


class _TLSSocket(_Socket):
    """TLS over memory buffers: the SSL object is touched only under a
    lock, never during socket I/O, so the reader and the senders can run at
    once (OpenSSL does not allow two threads in one SSL object)."""

    def __init__(self, sock, ctx):
        super().__init__(sock, "tcp")
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._in, self._out, server_side=False)
        self._lock = threading.Lock()  # the SSL object and its buffers
        self._send_lock = threading.Lock()  # records leave in the order they were made

    def _flush(self):
        with self._send_lock:
            with self._lock:
                out = self._out.read()
            if out:
                self.sock.sendall(out)

    def handshake(self):
        while True:
            try:
                with self._lock:
                    self._tls.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(1 << 16)
                if not data:
                    raise ConnectionClosed("the peer closed the connection in the TLS handshake")
                with self._lock:
                    self._in.write(data)

    def peer_chain(self):
        """The server's certificates as it sent them, DER, leaf first.
        Python 3.11 has no public call for this: the chain comes from
        the SSL object's private one (public from 3.13)."""
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in self._tls._sslobj.get_unverified_chain()]

    def send(self, data):
        with self._send_lock:
            with self._lock:
                self._tls.write(data)
                out = self._out.read()
            self.sock.sendall(out)

    def recv(self):
        while True:
            with self._lock:
                try:
                    return self._tls.read(1 << 16)
                except ssl.SSLWantReadError:
                    pending = self._out.pending
                except ssl.SSLZeroReturnError:
                    return b""
            if pending:  # a post-handshake message to answer
                self._flush()
            data = self.sock.recv(1 << 16)
            if not data:
                return b""
            with self._lock:
                self._in.write(data)


class _Frames:
    """Reads whole frames from a socket, keeping what follows for the next.

    peek returns the next frame and leaves it in the buffer until consume:
    a reader interrupted (KeyboardInterrupt) between the two reads the
    same frame again rather than losing it, and delivery is idempotent."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def read(self, limit):
        f, n = self.peek(limit)
        self.consume(n)
        return f

    def peek(self, limit):
        """The next frame, parsed, and its length in the buffer."""
        buf = self.buf
        while True:
            if len(buf) >= 4:
                n = int.from_bytes(buf[:4], "big")
                if n > limit:
                    raise ProtocolError("a frame of %d bytes exceeds the %d byte limit" % (n, limit))
                if len(buf) >= 4 + n:
                    return _parse(bytes(buf[4:4 + n])), 4 + n
            data = self.sock.recv()
            if not data:
                raise ConnectionClosed("the peer closed the connection")
            buf += data

    def consume(self, n):
        del self.buf[:n]


def _parse(f):
    if f[:1] == b"\x95":
        raise ProtocolError("a frame of protocol version 2 or older (a rayo binary of another version)")
    if len(f) < _HEADER.size - 4:
        raise ProtocolError("a frame shorter than its header")
    typ, flags, cid, ml = struct.unpack_from(">BBQH", f)
    start = _HEADER.size - 4
    if start + ml > len(f):
        raise ProtocolError("a method name longer than its frame")
    return typ, flags, cid, f[start:start + ml].decode("utf-8", "replace"), f[start + ml:]


def _proof(token, label, network, cn, sn):
    return hmac.new(token, b"%s\x00%s\x00%s%s" % (label, network.encode(), cn, sn), hashlib.sha256).digest()


def _hello(sock, frames, address, token):
    """The client's side of the v4 hello (Go: internal/rpc clientHello)."""
    cn = secrets.token_bytes(32)
    sock.send(_frame(_HELLO, payload=_pack({"v": PROTOCOL_VERSION, "n": cn})))
    typ, flags, _, _, body = frames.read(MAX_HELLO_FRAME)
    if typ != _HELLO_ACK:
        raise ProtocolError("%s: the answer to the hello is not a hello ack" % address)
    if flags & _FLAG_ERROR:
        raise _wire_error(body)  # unauthenticated, tls_required, bad_request (another version)
    ack = msgpack.unpackb(body, raw=False)
    sn = ack.get("n") if isinstance(ack, dict) else None
    if not isinstance(sn, bytes) or len(sn) != 32 or not isinstance(ack.get("p"), bytes):
        raise ProtocolError("%s: a malformed hello ack" % address)
    if not hmac.compare_digest(ack["p"], _proof(token, b"rayo-server", sock.network, cn, sn)):
        # Say so, so that the server logs a wrong token; nothing derived
        # from the token is sent.
        refusal = _pack({"c": Unauthenticated.CODE, "m": "the server's proof did not verify"})
        sock.send(_frame(_HELLO, payload=refusal, flags=_FLAG_ERROR))
        raise Unauthenticated(Unauthenticated.CODE, "%s: the peer did not prove it holds this token: a wrong token here, "
                              "or a peer that is not the cluster's" % address)
    sock.send(_frame(_HELLO, payload=_pack({"p": _proof(token, b"rayo-client", sock.network, cn, sn)})))


class _Call:
    """A call in flight. Its reply is signalled by releasing a lock the
    caller holds (cheaper than a threading.Event: no Condition)."""

    __slots__ = ("_lock", "finished", "reply", "error", "callback", "cid", "method")

    def __init__(self, callback=None):
        self._lock = _allocate_lock()
        self._lock.acquire()
        self.finished = False
        self.reply, self.error = None, None
        self.callback = callback

    def wait(self, timeout=None):
        """True once the reply came (False after timeout seconds)."""
        if self.finished:
            return True
        if self._lock.acquire(True, -1 if timeout is None else timeout):
            self._lock.release()  # later waits return at once
            return True
        return self.finished

    def finish(self):
        """Delivers the reply; False if it was delivered before (a frame
        read again after its reader was interrupted)."""
        if self.finished:
            return False
        self.finished = True
        self._lock.release()
        if self.callback is not None:
            try:
                self.callback(self.reply, self.error)
            except Exception:  # the reader must go on
                sys.excepthook(*sys.exc_info())
        return True


class Connection:
    """One authenticated connection; safe for concurrent use.

    Replies are read by one thread at a time. A caller that waits for its
    reply while no one reads reads itself (the leader), delivering the
    other replies it meets, until its own has come: a synchronous call
    then costs no hand-off between threads (a futex wake and a GIL
    transfer, tens of microseconds on a virtual machine). When the leader
    leaves with calls still in flight, or a call is sent with a callback
    or waited for with a timeout, the connection's reader thread reads
    until none is in flight. _lock guards _pending, _reading and _closed.
    """

    def __init__(self, sock, frames, address):
        self.address, self.network = address, sock.network
        self.tls = isinstance(sock, _TLSSocket)
        self._sock, self._frames = sock, frames
        self._lock = threading.Lock()
        self._pending = {}
        self._next_id = 0
        self._closed = None  # why the connection ended, once it has
        # Who reads: None (no one), _BACKGROUND (the reader thread) or the
        # _Call whose caller leads.
        self._reading = None
        self._wake = _allocate_lock()  # released to set the reader thread reading
        self._wake.acquire()
        # may_lead, when set, says whether the calling thread may read
        # (a worker's thread in a task's code may be interrupted at any
        # point by a cancel's KeyboardInterrupt: it waits for the reader).
        self.may_lead = None
        self._reader = threading.Thread(target=self._read_loop, name="rayo-rpc " + address, daemon=True)
        self._reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<rayo Connection %s over %s%s%s>" % (self.address, self.network, "+tls" if self.tls else "",
                                                     " closed" if self.closed else "")

    @property
    def closed(self):
        return self._closed is not None

    @property
    def in_flight(self):
        """The calls waiting for their reply."""
        with self._lock:
            return len(self._pending)

    def call(self, method, payload=NIL, timeout=None):
        """Sends payload (msgpack bytes) to method and returns the reply's
        msgpack bytes. Raises RpcError for the peer's error, ConnectionClosed
        when the connection is lost, TimeoutError after timeout seconds
        (the peer may still run the call)."""
        return self.wait(self.send(method, payload), timeout)

    def send(self, method, payload=NIL, callback=None, lazy=False):
        """Sends a call and returns its handle for wait. With callback,
        callback(reply, error) runs on the thread that reads the reply
        (this connection's reader, or a caller waiting for its own), or
        with ConnectionClosed when the connection ends first, so it must
        not block, and the call is not waited for. A lazy call's reply is
        left for the next caller that waits to read: its sender calls
        read_pending if it must not wait longer than that."""
        name = method.encode()
        if len(name) > 0xFFFF:
            raise ValueError("a method name of %d bytes" % len(name))
        if len(payload) + len(name) + _HEADER.size > MAX_FRAME:
            # The peer would refuse it and close the connection.
            raise ValueError("a %s call of %d bytes exceeds the %d byte frame limit" % (method, len(payload), MAX_FRAME))
        c = _Call(callback)
        with self._lock:
            if self._closed is not None:
                raise self._failure()
            self._next_id += 1
            c.cid = cid = self._next_id
            c.method = method
            self._pending[cid] = c
            if callback is not None and not lazy and self._reading is None:
                self._read_in_background()  # no caller will wait for this one
        try:
            self._sock.send(_frame(_REQUEST, cid, name, payload))
        except OSError as e:
            self._end(ConnectionClosed("%s: sending %s: %s" % (self.address, method, e)))
        return c

    def wait(self, c, timeout=None):
        """The reply of a call send made."""
        if not c.finished:
            if timeout is None and (self.may_lead is None or self.may_lead()):
                self._lead(c)
            else:
                self.read_pending()
        if not c.wait(timeout):
            with self._lock:
                if self._pending.pop(c.cid, None) is c:
                    raise TimeoutError("%s: no reply to %s within %ss" % (self.address, c.method, timeout))
            c.wait()  # the reply arrived meanwhile
        if c.error is not None:
            raise c.error
        return c.reply

    def close(self):
        """Closes the connection; calls in flight fail with ConnectionClosed."""
        self._end(ConnectionClosed("%s: the connection was closed" % self.address))
        if threading.current_thread() is not self._reader:
            self._reader.join()

    def _failure(self):
        """A new exception like the one that ended the connection (one
        raised object per caller: raising shares its traceback)."""
        e = self._closed
        return type(e)(*e.args)

    def _end(self, cause):
        with self._lock:
            if self._closed is None:
                self._closed = cause
            pending, self._pending = self._pending, {}
            if self._reading is None:
                self._read_in_background()  # to see the end, and exit
        for c in pending.values():
            c.error = self._failure()
            c.finish()
        self._sock.shutdown()  # wakes the reader, which closes the socket

    def read_pending(self):
        """Sets the reader thread reading if calls wait and no one reads
        (lazy calls whose replies are due)."""
        with self._lock:
            if self._reading is None and self._pending and self._closed is None:
                self._read_in_background()

    def _read_in_background(self):
        """Sets the reader thread reading (_lock held, no one reading)."""
        self._reading = _BACKGROUND
        self._wake.release()

    def _lead(self, c):
        """Reads replies on this thread until c's has come, unless another
        thread reads (then that one delivers it)."""
        with self._lock:
            if self._reading is not None or self._closed is not None or c.finished:
                return
            self._reading = c
        try:
            while not c.finished:
                self._read_one()
        except Exception as e:  # the connection's end (c fails with it)
            self._end(_read_failure(self.address, e))
        finally:
            with self._lock:
                self._reading = None
                if self._pending or self._closed is not None:
                    # Calls still wait, or the reader thread is to exit.
                    self._read_in_background()

    def _read_one(self):
        """Reads one frame and delivers it. The frame leaves the buffer
        only once delivered, and delivering twice is harmless: a reader
        interrupted in between loses no reply."""
        (typ, flags, cid, _, payload), n = self._frames.peek(MAX_FRAME)
        if typ == _HELLO_ACK and flags & _FLAG_ERROR:
            # The server refused this side's proof, after which calls
            # may already have gone out.
            raise _wire_error(payload)
        if typ == _RESPONSE:
            with self._lock:
                c = self._pending.get(cid)
            if c is not None:
                if flags & _FLAG_ERROR:
                    c.error = _wire_error(payload)
                else:
                    c.reply = payload
                c.finish()
                with self._lock:
                    if self._pending.get(cid) is c:
                        del self._pending[cid]
        self._frames.consume(n)

    def _read_loop(self):
        cause = None
        try:
            while True:
                self._wake.acquire()
                while True:
                    with self._lock:
                        if self._closed is not None:
                            return
                        if not self._pending:
                            self._reading = None
                            break
                    self._read_one()
        except Exception as e:  # the connection's end, whatever ended it
            cause = _read_failure(self.address, e)
        finally:
            self._end(cause or ConnectionClosed("%s: the connection ended" % self.address))
            self._sock.close()


_BACKGROUND = "background"


def _read_failure(address, e):
    """The ConnectionClosed (or the peer's refusal) reading ended with."""
    if isinstance(e, RpcError):
        return e
    cause = e if isinstance(e, ConnectionClosed) else ConnectionClosed(str(e) or type(e).__name__)
    return type(cause)("%s: %s" % (address, cause))


# --- dialing ---------------------------------------------------------------

def split_host_port(address):
    """(host, port) of "host:port" or "[v6]:port", as Go's net.SplitHostPort."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        if not rest.startswith(":"):
            raise ValueError("not host:port: %r" % address)
        return host, rest[1:]
    host, sep, port = address.rpartition(":")
    if not sep or ":" in host:
        raise ValueError("not host:port: %r" % address)
    return host, port


def _is_local(ip):
    if ip.is_loopback:
        return True
    # Binding succeeds only to an address of this machine's interfaces.
    s = socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((str(ip), 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def socket_dir():
    """This user's socket directory (Go: os.TempDir() then rayo-sock-<euid>)."""
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", "rayo-sock-%d" % os.geteuid())


def unix_path(address):
    """The Unix socket a server on the TCP address also listens on, or ""."""
    try:
        host, port = split_host_port(address)
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if port in ("", "0") or not _is_local(ip):
        return ""
    p = os.path.normpath(os.path.join(socket_dir(), host.replace(":", "_") + "_" + port))
    return p if len(p.encode()) <= _MAX_UNIX_PATH else ""


def _private_dir(path):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0


def _dial_unix(address, timeout):
    """The server's Unix socket, connected, when its directory, the socket
    and the process listening on it are this user's; else None."""
    p = unix_path(address)
    if not p or not _private_dir(os.path.dirname(p)):
        return None
    try:
        st = os.lstat(p)
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(p)
        # The listener's credentials, race-free, unlike checks on paths.
        _, uid, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid == os.geteuid():
            return s
    except OSError:
        pass
    s.close()
    return None


def _dial_tcp(address, timeout):
    host, port = split_host_port(address)
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as e:
        raise ConnectionClosed("dial %s: %s" % (address, e)) from None
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _handshake(sock, address):
    """The TLS handshake, before anything of the hello is sent: a server
    that fails the check learns nothing."""
    try:
        sock.handshake()
    except ssl.SSLCertVerificationError as e:
        raise ssl.SSLCertVerificationError("%s: the server's certificate is not of the cluster's CA: %s"
                                           % (address, e.verify_message)) from None
    except OSError as e:  # TLS errors, a reset, a timeout
        raise ConnectionClosed("TLS handshake with %s (a cluster started without TLS?): %s" % (address, e)) from None


def _open(sock, address, token, deadline):
    """Runs the hello on a connected socket and returns the Connection."""
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        if isinstance(sock, _TLSSocket):
            _handshake(sock, address)
        frames = _Frames(sock)
        try:
            _hello(sock, frames, address, token)
        except ssl.SSLError as e:
            # TLS 1.3 delivers a server's refusal of this side's
            # certificate at the first read, the hello's.
            raise CertificateRequired(CertificateRequired.CODE, "%s refused this process's TLS certificate (none, or not "
                                      "of the cluster's CA): %s" % (address, e.reason)) from None
        sock.settimeout(None)
        return Connection(sock, frames, address)
    except BaseException:
        sock.close()
        raise


def dial(address, token, tls=None, timeout=DIAL_TIMEOUT):
    """Connects to the server at address ("host:port") and proves token.

    Within a machine it tries the server's Unix socket first and falls
    back to TCP when the socket is missing, not private, or fails other
    than by a refusal (Go: rpc.Dial). tls is a ClusterTLS for a cluster
    with TLS, None for plain TCP."""
    if not token:
        raise ValueError("no cluster token")
    token = token.encode() if isinstance(token, str) else token
    deadline = time.monotonic() + timeout
    s = _dial_unix(address, min(timeout, UNIX_HELLO_TIMEOUT))
    if s is not None:
        try:
            return _open(_Socket(s, "unix"), address, token, min(deadline, time.monotonic() + UNIX_HELLO_TIMEOUT))
        except RpcError:
            raise  # a refusal, which TCP would repeat
        except OSError:
            pass  # a dead or wedged socket: TCP may do better
    s = _dial_tcp(address, max(deadline - time.monotonic(), 0.001))
    sock = _TLSSocket(s, tls.context()) if tls is not None else _Socket(s, "tcp")
    return _open(sock, address, token, deadline)


# --- TLS ---------------------------------------------------------------------

def _client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # certificates are checked against the CA, not by name
    return ctx


class ClusterTLS:
    """This process's side of the cluster's mutual TLS: the CA every
    server's certificate must chain to, and this process's certificate
    (none while it joins: the head then serves it rpc.SignCertificate
    alone). Certificates are checked against the CA only, not by name
    (see internal/pki)."""

    def __init__(self, ca_pem, cert_pem=None, key_pem=None, cert_file=None, key_file=None):
        self.ca_pem = ca_pem
        self._cert = (cert_pem, key_pem, cert_file, key_file)
        self._ctx = None
        self._lock = threading.Lock()

    def __repr__(self):
        return "<ClusterTLS CA %s%s>" % (self.fingerprint[:16], "" if self.has_certificate else ", no certificate")

    @property
    def has_certificate(self):
        return any(self._cert)

    @property
    def fingerprint(self):
        return _pki.fingerprint(_pki.pem_certificates(self.ca_pem)[0])

    def context(self):
        with self._lock:
            if self._ctx is None:
                ctx = _client_context()  # verify_mode stays CERT_REQUIRED
                ctx.load_verify_locations(cadata=self.ca_pem.decode() if isinstance(self.ca_pem, bytes) else self.ca_pem)
                cert_pem, key_pem, cert_file, key_file = self._cert
                if cert_file:
                    ctx.load_cert_chain(cert_file, key_file)
                elif cert_pem:
                    _pki.load_identity(ctx, cert_pem, key_pem)
                self._ctx = ctx
            return self._ctx


def fetch_ca(address, fingerprint, timeout=DIAL_TIMEOUT):
    """The CA certificate (PEM) with the given fingerprint from the chain
    the server at address presents, in a TLS handshake that sends nothing
    else: the CA a joining process trusts is the one it was told of."""
    want = _pki.normalize_fingerprint(fingerprint)
    ctx = _client_context()
    ctx.verify_mode = ssl.CERT_NONE  # checked below, against the fingerprint
    sock = _TLSSocket(_dial_tcp(address, timeout), ctx)
    try:
        _handshake(sock, address)
        chain = sock.peer_chain()
    finally:
        sock.close()
    for der in chain[1:]:
        if _pki.fingerprint(der) == want:
            return ssl.DER_cert_to_PEM_cert(der).encode()
    raise FingerprintMismatch(want, _pki.fingerprint(chain[-1]) if len(chain) > 1 else "none (the server sent no CA certificate)")


def join_tls(address, token, fingerprint=None, ca_pem=None, name="python-driver", timeout=DIAL_TIMEOUT):
    """Gets this process a certificate from the head at address (Go: rpc.JoinTLS).

    The head is trusted by its CA: ca_pem (the head's session's ca.crt on
    its machine) or the one of its chain with fingerprint. The key is made
    here and never leaves the process."""
    if ca_pem is None:
        ca_pem = fetch_ca(address, fingerprint, timeout)
    want = _pki.fingerprint(_pki.pem_certificates(ca_pem)[0])
    if fingerprint and _pki.normalize_fingerprint(fingerprint) != want:
        raise FingerprintMismatch(_pki.normalize_fingerprint(fingerprint), want)
    csr, key = _pki.new_csr(name)
    with dial(address, token, ClusterTLS(ca_pem), timeout) as conn:
        reply = msgpack.unpackb(conn.call(METHOD_SIGN_CERTIFICATE, _pack({"csr": csr}), timeout), raw=False)
    # Over a Unix socket no handshake checked the CA: check the one the head sent.
    got = _pki.pem_certificates(reply["ca"])
    if not got or _pki.fingerprint(got[0]) != want:
        raise FingerprintMismatch(want, _pki.fingerprint(got[0]) if got else "none")
    return ClusterTLS(reply["ca"], cert_pem=reply["cert"], key_pem=key)
