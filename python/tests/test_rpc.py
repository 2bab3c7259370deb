"""rayo._rpc and rayo._session against a real head built from this checkout."""

import contextlib
import os
import signal
import socket
import threading

import msgpack
import pytest

from rayo import _pki, _rpc, _session
from rayohead import Head, poll


def _head(request, rayo_bin, tls):
    h = Head(rayo_bin, tls=tls)
    request.addfinalizer(h.stop)
    return h


@pytest.fixture(scope="module")
def tls_head(request, rayo_bin):
    return _head(request, rayo_bin, tls=True)


@pytest.fixture(scope="module")
def plain_head(request, rayo_bin):
    return _head(request, rayo_bin, tls=False)


@pytest.fixture(autouse=True)
def no_rayo_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("RAYO_"):
            monkeypatch.delenv(k)


def at(monkeypatch, head):
    """The Cluster of head, as a driver on its machine finds it."""
    monkeypatch.setenv("TMPDIR", head.tmpdir)  # where its Unix sockets are
    return _session.discover(temp_dir=head.temp_dir)


def unpack(b):
    return msgpack.unpackb(b, raw=False)


def pack(v):
    return msgpack.packb(v, use_bin_type=True)


class unsafe_socket_dir:
    """The head's socket directory open to others while in the block: clients must not use it."""

    def __init__(self, head):
        self.dir = head.socket_dir

    def __enter__(self):
        os.chmod(self.dir, 0o755)

    def __exit__(self, *exc):
        os.chmod(self.dir, 0o700)


def in_threads(n, fn):
    """Runs fn(0) ... fn(n-1) each on its own thread, and waits for all."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def cluster_status(conn):
    st = unpack(conn.call("head.ClusterStatus", timeout=30))
    assert set(st) >= {"nodes", "jobs", "actors", "pgs"}
    return st


def test_ed25519_rfc8032_vector():
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert _pki.ed25519_public(seed).hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert _pki.ed25519_sign(seed, b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


@pytest.mark.parametrize("addr,want", [
    ("127.0.0.1:80", ("127.0.0.1", "80")),
    ("[::1]:80", ("::1", "80")),
    ("host:1", ("host", "1")),
])
def test_split_host_port(addr, want):
    assert _rpc.split_host_port(addr) == want


def test_unix_path(monkeypatch):
    monkeypatch.setenv("TMPDIR", "/x")
    assert _rpc.unix_path("127.0.0.1:5") == "/x/rayo-sock-%d/127.0.0.1_5" % os.geteuid()
    assert _rpc.unix_path("[::1]:5").endswith("/__1_5")
    for addr in ("127.0.0.1:0", "example.com:5", "192.0.2.1:5"):  # any port, a name, not this machine's
        assert _rpc.unix_path(addr) == ""


def test_cluster_status_over_unix_socket(monkeypatch, tls_head):
    c = at(monkeypatch, tls_head)
    assert c.address == tls_head.address and c.tls is not None and c.tls.has_certificate
    assert tls_head.token not in repr(c)
    with c.connect() as conn:
        assert (conn.network, conn.tls) == ("unix", False)
        st = poll(lambda: (lambda s: s if s["nodes"] else None)(cluster_status(conn)), "the head's node")
        node = st["nodes"][0]
        # Resources are fixed-point on the wire: 1 CPU is 10000 (sched.Unit).
        assert node["alive"] and node["info"]["head"] and node["info"]["total"]["CPU"] == 10000


def test_kv_round_trip(monkeypatch, tls_head):
    with at(monkeypatch, tls_head).connect() as conn:
        put = {"ns": "pytest", "k": "key", "v": b"\x00value\xff", "ow": True}
        assert unpack(conn.call("head.KVPut", pack(put), timeout=30)) == {"added": True}
        got = unpack(conn.call("head.KVGet", pack({"ns": "pytest", "k": "key"}), timeout=30))
        assert got == {"v": b"\x00value\xff", "found": True}
        assert unpack(conn.call("head.KVGet", pack({"ns": "pytest", "k": "absent"}), timeout=30))["found"] is False


def test_concurrent_calls_on_one_tls_connection(monkeypatch, tls_head):
    c = at(monkeypatch, tls_head)
    with unsafe_socket_dir(tls_head), c.connect() as conn:
        assert (conn.network, conn.tls) == ("tcp", True)
        errors = []

        def worker(i):
            try:
                for j in range(20):
                    v = b"%d-%d" % (i, j) * 100
                    conn.call("head.KVPut", pack({"ns": "conc", "k": str(i), "v": v, "ow": True}), timeout=30)
                    assert unpack(conn.call("head.KVGet", pack({"ns": "conc", "k": str(i)}), timeout=30))["v"] == v
            except Exception as e:  # reported below
                errors.append(e)

        in_threads(8, worker)
        assert errors == []
        assert conn.in_flight == 0


def test_unknown_method_gets_the_go_code(monkeypatch, tls_head):
    with at(monkeypatch, tls_head).connect() as conn:
        with pytest.raises(_rpc.UnknownMethod) as e:
            conn.call("head.NoSuchMethod", timeout=30)
        assert e.value.code == "unknown_method" and "head.NoSuchMethod" in e.value.message
        with pytest.raises(_rpc.BadRequest):  # a body the handler cannot decode
            conn.call("head.KVGet", b"\xc1", timeout=30)
        cluster_status(conn)  # the connection is still good


def test_tls_over_tcp_when_the_socket_dir_is_unsafe(monkeypatch, tls_head):
    c = at(monkeypatch, tls_head)
    with unsafe_socket_dir(tls_head):
        with c.connect() as conn:
            assert (conn.network, conn.tls) == ("tcp", True)
            cluster_status(conn)
        # A process without a certificate may only ask for one.
        with _rpc.dial(c.address, tls_head.token, _rpc.ClusterTLS(c.tls.ca_pem)) as conn:
            with pytest.raises(_rpc.CertificateRequired):
                conn.call("head.ClusterStatus", timeout=30)
        with pytest.raises(_rpc.TLSRequired):
            _rpc.dial(c.address, tls_head.token, None)


def test_join_by_fingerprint(monkeypatch, tls_head):
    ca = _session._read(os.path.join(tls_head.session, "ca.crt"))
    fp = _pki.fingerprint(_pki.pem_certificates(ca)[0])
    monkeypatch.setenv("TMPDIR", tls_head.tmpdir)
    monkeypatch.setenv("RAYO_ADDRESS", tls_head.address)
    monkeypatch.setenv("RAYO_TOKEN", tls_head.token)
    monkeypatch.setenv("RAYO_CA_FINGERPRINT", ":".join(fp[i:i + 2].upper() for i in range(0, 64, 2)))  # openssl's form
    with unsafe_socket_dir(tls_head):  # as from another machine: TCP only
        c = _session.discover(temp_dir=os.path.join(tls_head.root, "elsewhere"))
        assert c.tls.fingerprint == fp
        with c.connect() as conn:
            assert conn.tls
            cluster_status(conn)
        monkeypatch.setenv("RAYO_CA_FINGERPRINT", "00" * 32)
        with pytest.raises(_rpc.FingerprintMismatch):
            _session.discover(temp_dir=os.path.join(tls_head.root, "elsewhere"))


class Recorder:
    """The frames this process sends, in plaintext."""

    def __init__(self, monkeypatch):
        self.frames = []
        for cls in (_rpc._Socket, _rpc._TLSSocket):
            send = cls.send
            monkeypatch.setattr(cls, "send", lambda s, data, send=send: (self.frames.append(bytes(data)), send(s, data))[1])


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_wrong_token_is_refused_and_nothing_leaks(monkeypatch, tls_head, transport):
    c = at(monkeypatch, tls_head)
    wrong = "f" * len(tls_head.token)
    rec = Recorder(monkeypatch)
    with unsafe_socket_dir(tls_head) if transport == "tcp" else contextlib.nullcontext():
        with pytest.raises(_rpc.Unauthenticated) as e:
            _rpc.dial(c.address, wrong, c.tls)
    assert e.value.code == "unauthenticated"
    for text in (str(e.value), repr(e.value)):
        assert wrong not in text and tls_head.token not in text
    # The hello, then the refusal (error flag) without a proof.
    assert len(rec.frames) == 2
    hello, refusal = (_rpc._parse(f[4:]) for f in rec.frames)
    assert unpack(hello[4]).keys() == {"v", "n"}
    assert refusal[0] == 3 and refusal[1] & 1 and unpack(refusal[4]).keys() == {"c", "m"}
    assert not any(t.encode() in f for f in rec.frames for t in (wrong, tls_head.token))


def test_plain_cluster(monkeypatch, plain_head):
    c = at(monkeypatch, plain_head)
    assert c.tls is None
    with c.connect() as conn:
        assert conn.network == "unix"
        cluster_status(conn)
    with unsafe_socket_dir(plain_head), c.connect() as conn:
        assert (conn.network, conn.tls) == ("tcp", False)
        cluster_status(conn)
    with pytest.raises(_rpc.ConnectionClosed, match="without TLS"):
        _rpc.fetch_ca(plain_head.address, "00" * 32)


def stopped_call(conn, timeout):
    """Starts a call on a stopped head; returns the thread and its outcome."""
    out = {}

    def run():
        try:
            out["reply"] = conn.call("head.ClusterStatus", timeout=timeout)
        except Exception as e:  # the outcome under test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    poll(lambda: conn.in_flight == 1, "the call to be in flight")
    return t, out


def test_timeout_and_close_fail_pending_calls(monkeypatch, plain_head):
    c = at(monkeypatch, plain_head)
    conn = c.connect()
    plain_head.signal(signal.SIGSTOP)
    try:
        with pytest.raises(TimeoutError):
            conn.call("head.ClusterStatus", timeout=0.2)
        t, out = stopped_call(conn, timeout=300)
        conn.close()
        t.join()
    finally:
        plain_head.signal(signal.SIGCONT)
    assert isinstance(out.get("error"), _rpc.ConnectionClosed)
    with pytest.raises(_rpc.ConnectionClosed):
        conn.call("head.ClusterStatus")


def test_server_killed_mid_call(request, monkeypatch, rayo_bin):
    head = _head(request, rayo_bin, tls=True)
    with at(monkeypatch, head).connect() as conn:
        head.signal(signal.SIGSTOP)  # the call waits for its reply
        t, out = stopped_call(conn, timeout=300)
        head.signal(signal.SIGKILL)
        t.join()
        # Failed by the connection's loss, not by its timeout.
        assert isinstance(out.get("error"), _rpc.ConnectionClosed) and conn.closed
        with pytest.raises(_rpc.ConnectionClosed):
            conn.call("head.ClusterStatus")


def test_session_resolution(tmp_path, monkeypatch):
    temp = tmp_path / "rayo"
    sess = temp / "session_x"
    sess.mkdir(parents=True)
    os.chmod(temp, 0o700)
    (temp / "session_latest").symlink_to("session_x")
    (sess / "address").write_text("127.0.0.1:7\n")
    (sess / "token").write_text("abc\n")
    os.chmod(sess / "token", 0o644)
    with pytest.raises(_session.UnsafeDir):  # a token others may read is not used
        _session.resolve(temp_dir=str(temp))
    os.chmod(sess / "token", 0o600)
    assert _session.resolve("auto", temp_dir=str(temp)) == ("127.0.0.1:7", "abc")
    monkeypatch.setenv("RAYO_ADDRESS", "10.0.0.1:9")
    assert _session.resolve(temp_dir=str(temp)) == ("10.0.0.1:9", "abc")
    assert _session.ca_file(str(temp), "10.0.0.1:9") is None  # not the local session's cluster
    assert _session.ca_file(str(temp), "127.0.0.1:7") == str(sess / "ca.crt")
    with pytest.raises(_session.NoToken):
        _session.resolve(temp_dir=str(tmp_path / "none"))
    os.chmod(temp, 0o777)
    with pytest.raises(_session.UnsafeDir):
        _session.resolve(temp_dir=str(temp))


# --- who reads the replies (Connection's leader and reader thread) ----------

@pytest.mark.parametrize("transport", ["unix", "tls"])
def test_callers_read_their_own_replies_and_each_others(monkeypatch, tls_head, transport):
    """Calls without a timeout are read by a waiting caller (the leader),
    which delivers the others' replies too; calls with one, and calls
    with callbacks, by the reader thread. All mixed on one connection."""
    c = at(monkeypatch, tls_head)
    ctx = unsafe_socket_dir(tls_head) if transport == "tls" else contextlib.nullcontext()
    with ctx, c.connect() as conn:
        assert conn.tls == (transport == "tls")
        errors, called = [], []

        def worker(i):
            try:
                for j in range(30):
                    v = b"%d-%d" % (i, j) * 50
                    timeout = 30 if (i + j) % 3 == 0 else None
                    conn.call("head.KVPut", pack({"ns": "lead", "k": str(i), "v": v, "ow": True}), timeout=timeout)
                    if j % 5 == 0:
                        conn.send("head.KVGet", pack({"ns": "lead", "k": str(i)}), lambda r, e: called.append((r, e)))
                    assert unpack(conn.call("head.KVGet", pack({"ns": "lead", "k": str(i)})))["v"] == v
            except Exception as e:  # reported below
                errors.append(e)

        in_threads(6, worker)
        assert errors == []
        poll(lambda: len(called) == 6 * 6 or None, "every callback")
        assert all(e is None and unpack(r)["found"] for r, e in called)
        assert conn.in_flight == 0


def test_lazy_reply_is_read_by_the_next_waiter_or_on_request(monkeypatch, plain_head):
    with at(monkeypatch, plain_head).connect() as conn:
        got = []
        lazy = conn.send("head.ClusterStatus", callback=lambda r, e: got.append(e), lazy=True)
        # The next caller to wait reads the lazy call's reply on its way.
        cluster_status_no_timeout = unpack(conn.call("head.ClusterStatus"))
        assert "nodes" in cluster_status_no_timeout
        poll(lambda: lazy.finished or None, "the lazy reply")
        assert got == [None]
        # With no caller to wait, read_pending has the reader thread read it.
        lazy = conn.send("head.ClusterStatus", callback=lambda r, e: got.append(e), lazy=True)
        conn.read_pending()
        poll(lambda: lazy.finished or None, "the lazy reply, read by the reader thread")
        assert got == [None, None] and conn.in_flight == 0


def test_an_interrupted_leader_loses_no_reply(monkeypatch, plain_head):
    """A KeyboardInterrupt in the leader between reading a frame and
    delivering it (or after delivering, before dropping it from the
    buffer): the reply still arrives, once, and the connection goes on."""
    with at(monkeypatch, plain_head).connect() as conn:
        for where in ("peek", "consume"):
            real = getattr(conn._frames, where)
            fired = []

            def once(*a, real=real, fired=fired, where=where):
                # peek: the frame read, not delivered; consume: delivered,
                # still in the buffer.
                out = real(*a) if where == "peek" else None
                if not fired:
                    fired.append(1)
                    raise KeyboardInterrupt
                return out if where == "peek" else real(*a)

            monkeypatch.setattr(conn._frames, where, once)
            got = []
            c = conn.send("head.ClusterStatus", callback=lambda r, e: got.append(e), lazy=True)
            with pytest.raises(KeyboardInterrupt):
                conn.wait(c)
            poll(lambda: c.finished or None, "the interrupted call's reply")
            assert got == [None], where  # delivered once
            monkeypatch.undo()
            monkeypatch.setenv("TMPDIR", plain_head.tmpdir)
            assert "nodes" in unpack(conn.call("head.ClusterStatus"))
        assert conn.in_flight == 0


def test_close_ends_a_leading_caller(monkeypatch, plain_head):
    c = at(monkeypatch, plain_head)
    conn = c.connect()
    plain_head.signal(signal.SIGSTOP)
    try:
        t, out = stopped_call(conn, timeout=None)  # reads the socket itself
        conn.close()
        t.join()
    finally:
        plain_head.signal(signal.SIGCONT)
    assert isinstance(out.get("error"), _rpc.ConnectionClosed)
    assert not conn._reader.is_alive()


@pytest.mark.parametrize("fds", ["", "3", "3,x", "3,4,5", "3,3", "-1,4"])
def test_bridge_fds_must_name_two_descriptors(fds):
    with pytest.raises(ValueError, match="RAYO_BRIDGE_FD must name two descriptors"):
        _rpc.bridge_socket(fds)


def test_bridge_pairs_carry_each_direction_on_its_own_socket():
    ours, (go_reads, go_writes) = _rpc.bridge_pairs()
    try:
        ours.send(b"request")
        assert go_reads.recv(16) == b"request"
        go_writes.sendall(b"reply")
        assert ours.recv() == b"reply"
        # A shutdown wakes this side's reader, as the Connection's close needs.
        ours.shutdown()
        assert ours.recv() == b""
    finally:
        ours.close()
        go_reads.close()
        go_writes.close()


def test_bridge_socket_is_not_inherited():
    a, b = socket.socketpair()
    try:
        os.set_inheritable(a.fileno(), True)
        os.set_inheritable(b.fileno(), True)
        s = _rpc.bridge_socket("%d,%d" % (a.detach(), b.detach()))
        assert not os.get_inheritable(s.sock.fileno())
        assert not os.get_inheritable(s.in_sock.fileno())
        s.close()
    finally:
        a.close()
        b.close()
