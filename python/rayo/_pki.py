"""A driver's TLS key and certificate request, with the standard library alone.

The cluster's head signs a certificate request for a process that proved
the token (Go: internal/rpc JoinTLS, internal/pki NewCSR). Go makes a
P-256 key; the head also accepts Ed25519 (pki.checkKeyType), whose key
generation, signature and DER forms are short enough to write here, so
no crypto package is needed. Only the key pair and the one request
signature are computed in Python (not in constant time; both happen once,
locally); every TLS handshake afterwards is OpenSSL's.
"""

import base64
import hashlib
import os
import secrets
import ssl

# Ed25519 (RFC 8032, section 5.1), in extended coordinates.
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % _P
    pb = (y1 + x1) * (y2 + x2) % _P
    pc = 2 * t1 * t2 * _D % _P
    pd = 2 * z1 * z2 % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, pt):
    acc = (0, 1, 1, 0)
    while s:
        if s & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        s >>= 1
    return acc


def _base():
    y = 4 * pow(5, _P - 2, _P) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if x & 1:
        x = _P - x
    return (x, y, 1, x * y % _P)


_G = _base()


def _encode(pt):
    zi = pow(pt[2], _P - 2, _P)
    x, y = pt[0] * zi % _P, pt[1] * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return a, h[32:]


def ed25519_public(seed):
    """The public key of the 32-byte private key seed."""
    return _encode(_mul(_expand(seed)[0], _G))


def ed25519_sign(seed, msg):
    """The 64-byte signature of msg."""
    a, prefix = _expand(seed)
    pub = _encode(_mul(a, _G))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % _L
    big_r = _encode(_mul(r, _G))
    k = int.from_bytes(hashlib.sha512(big_r + pub + msg).digest(), "little") % _L
    return big_r + ((r + k * a) % _L).to_bytes(32, "little")


# DER, only the forms a certificate request needs.
def _der(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def _seq(*parts):
    return _der(0x30, b"".join(parts))


_ED25519_ALG = _seq(bytes.fromhex("06032b6570"))  # id-Ed25519, no parameters
_CN = bytes.fromhex("0603550403")  # id-at-commonName


def _pem(kind, der):
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind)).encode()


def new_csr(name):
    """A new key and a request for its certificate: (csr_pem, key_pem)."""
    seed = secrets.token_bytes(32)
    spki = _seq(_ED25519_ALG, _der(0x03, b"\x00" + ed25519_public(seed)))
    subject = _seq(_der(0x31, _seq(_CN, _der(0x0C, name.encode()))))
    info = _seq(_der(0x02, b"\x00"), subject, spki, b"\xa0\x00")
    csr = _seq(info, _ED25519_ALG, _der(0x03, b"\x00" + ed25519_sign(seed, info)))
    key = _seq(_der(0x02, b"\x00"), _ED25519_ALG, _der(0x04, _der(0x04, seed)))  # PKCS #8
    return _pem("CERTIFICATE REQUEST", csr), _pem("PRIVATE KEY", key)


def fingerprint(der):
    """A certificate's fingerprint as rayo prints it: SHA-256, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(s):
    """rayo's form of a fingerprint given as rayo or openssl prints it."""
    s = s.strip().lower()
    if s.startswith("sha256"):
        s = s[len("sha256"):].partition("=")[2] or s[len("sha256"):]
    s = s.replace(":", "").replace(" ", "")
    try:
        ok = len(bytes.fromhex(s)) == 32
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("not a SHA-256 fingerprint: %r" % s)
    return s


def pem_certificates(pem):
    """The DER certificates in PEM text (bytes or str), in order."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    out, rest = [], pem
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    while begin in rest:
        body, _, rest = rest.partition(begin)[2].partition(end)
        out.append(ssl.PEM_cert_to_DER_cert(begin + body + end))
    return out


def load_identity(ctx, cert_pem, key_pem):
    """Loads a certificate and key held in memory into ctx: ssl reads them
    only from files, so they go through an anonymous memory file, and the
    key never touches a disk."""
    fd = os.memfd_create("rayo-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, cert_pem + b"\n" + key_pem)
        path = "/proc/self/fd/%d" % fd
        ctx.load_cert_chain(path, path)
    finally:
        os.close(fd)
