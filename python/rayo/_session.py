"""How a driver finds the cluster: its head's address, its token, its TLS.

As the Go CLI and driver do (internal/session Resolve and CAFile,
internal/rpc TLSSettings): explicit values win, then RAYO_ADDRESS and
RAYO_TOKEN, then the latest session under the temp dir (default
/tmp/rayo), which a head on this machine wrote. TLS comes from the
operator's files (RAYO_TLS_CERT, RAYO_TLS_KEY, RAYO_TLS_CA), else from the
CA fingerprint (RAYO_CA_FINGERPRINT) or, on the head's machine, the
session's ca.crt: the head then signs a certificate for this process.
"""

import os
import stat

from . import _rpc

DEFAULT_TEMP_DIR = "/tmp/rayo"
_LATEST = "session_latest"


class SessionError(Exception):
    """No cluster could be found, or what was found is not safe to use."""


class NoSession(SessionError):
    pass


class NoToken(SessionError):
    pass


class UnsafeDir(SessionError):
    pass


def check_temp_dir(path):
    """Raises unless path is a directory of this user's that no other user
    may write to; a link to one may be this user's or root's (Go:
    session.CheckTempDir)."""
    euid = os.geteuid()
    try:
        li = os.lstat(path)
        st = os.stat(path)
    except FileNotFoundError:
        raise NoSession("no running cluster found (temp dir %s)" % path) from None
    if stat.S_ISLNK(li.st_mode) and li.st_uid not in (euid, 0):
        raise UnsafeDir("%s is a link owned by uid %d" % (path, li.st_uid))
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDir("%s is not a directory" % path)
    if st.st_uid != euid:
        raise UnsafeDir("%s belongs to uid %d, not to this user (uid %d)" % (path, st.st_uid, euid))
    if st.st_mode & 0o022:
        raise UnsafeDir("other users may write to %s (mode %#o)" % (path, stat.S_IMODE(st.st_mode)))


def latest_session(temp_dir=None):
    """The directory the temp dir's session_latest names."""
    temp_dir = os.path.abspath(temp_dir or DEFAULT_TEMP_DIR)
    check_temp_dir(temp_dir)
    link = os.path.join(temp_dir, _LATEST)
    try:
        target = os.path.join(temp_dir, os.readlink(link))
    except FileNotFoundError:
        raise NoSession("no running cluster found (temp dir %s)" % temp_dir) from None
    except OSError:
        target = link  # a plain directory put there by hand
    if not os.path.isdir(target):
        raise NoSession("no running cluster found (temp dir %s)" % temp_dir)
    return os.path.normpath(target)


def read_address(session):
    try:
        with open(os.path.join(session, "address")) as f:
            addr = f.read().strip()
    except FileNotFoundError:
        addr = ""
    if not addr:
        raise NoSession("no address in %s" % session)
    return addr


def read_token(session):
    """The session's token, from a file only this user may read."""
    path = os.path.join(session, "token")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise NoToken("no cluster token in %s" % session) from None
    with f:
        st = os.fstat(f.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise UnsafeDir("the token file %s must be this user's with mode 0600 (it has uid %d, mode %#o)"
                            % (path, st.st_uid, stat.S_IMODE(st.st_mode)))
        token = f.read().decode().strip()
    if not token:
        raise NoToken("empty token file in %s" % session)
    return token


def resolve(address=None, token=None, temp_dir=None):
    """(address, token) as session.Resolve finds them. address None, "" or
    "auto" means RAYO_ADDRESS, then the latest session's head."""
    temp_dir = temp_dir or DEFAULT_TEMP_DIR
    address = (address or "").strip()
    if address == "auto":
        address = ""
    address = address or os.environ.get("RAYO_ADDRESS", "").strip()
    token = (token or "").strip() or os.environ.get("RAYO_TOKEN", "").strip()
    if address and token:
        return address, token
    try:
        session, err = latest_session(temp_dir), None
    except SessionError as e:
        session, err = None, e
    if not address:
        if err:
            raise err
        address = read_address(session)
    if not token:
        if isinstance(err, NoSession):
            raise NoToken("no cluster token (no session under %s; pass a token or set RAYO_TOKEN)" % temp_dir)
        if err:
            raise err
        token = read_token(session)
    return address, token


def ca_file(temp_dir, address):
    """The CA certificate of the cluster whose head, on this machine,
    listens at address: the latest session's if it is that cluster's."""
    try:
        session = latest_session(temp_dir)
        if read_address(session) != address.strip():
            return None
    except SessionError:
        return None
    return os.path.join(session, "ca.crt")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def resolve_tls(address, token, temp_dir=None, name="python-driver", timeout=_rpc.DIAL_TIMEOUT):
    """This process's ClusterTLS for the cluster at address, or None when
    the cluster runs without TLS as far as this machine can tell (a head
    with TLS then refuses with TLSRequired). Go: rpc.TLSSettings.Resolve."""
    env = {k: os.environ.get(k, "").strip() for k in ("RAYO_TLS_CERT", "RAYO_TLS_KEY", "RAYO_TLS_CA", "RAYO_CA_FINGERPRINT")}
    if env["RAYO_TLS_CERT"] or env["RAYO_TLS_KEY"] or env["RAYO_TLS_CA"]:
        if not all((env["RAYO_TLS_CERT"], env["RAYO_TLS_KEY"], env["RAYO_TLS_CA"])):
            raise SessionError("RAYO_TLS_CERT, RAYO_TLS_KEY and RAYO_TLS_CA go together")
        return _rpc.ClusterTLS(_read(env["RAYO_TLS_CA"]), cert_file=env["RAYO_TLS_CERT"], key_file=env["RAYO_TLS_KEY"])
    if env["RAYO_CA_FINGERPRINT"]:
        return _rpc.join_tls(address, token, fingerprint=env["RAYO_CA_FINGERPRINT"], name=name, timeout=timeout)
    path = ca_file(temp_dir or DEFAULT_TEMP_DIR, address)
    try:
        ca_pem = _read(path) if path else None
    except FileNotFoundError:
        ca_pem = None  # the local cluster runs without TLS
    if ca_pem is None:
        return None
    return _rpc.join_tls(address, token, ca_pem=ca_pem, name=name, timeout=timeout)


class Cluster:
    """What a driver needs to reach a cluster: the head's address, the
    token (never shown), and this process's TLS (None without TLS)."""

    def __init__(self, address, token, tls):
        self.address, self._token, self.tls = address, token, tls

    def __repr__(self):
        return "<rayo Cluster %s%s>" % (self.address, " tls" if self.tls else "")

    def connect(self, address=None, timeout=_rpc.DIAL_TIMEOUT):
        """A Connection to the head, or to another of the cluster's servers."""
        return _rpc.dial(address or self.address, self._token, self.tls, timeout)


def discover(address=None, token=None, temp_dir=None, name="python-driver", timeout=_rpc.DIAL_TIMEOUT):
    """The Cluster at address (see resolve), its TLS certificate obtained."""
    address, token = resolve(address, token, temp_dir)
    return Cluster(address, token, resolve_tls(address, token, temp_dir, name, timeout))
