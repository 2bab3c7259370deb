"""runtime_env's working_dir and py_modules (Ray's names): the driver
zips each directory, the zip goes to the head's key-value store in
1 MiB chunks under its SHA-256 (uploaded once: a second job with the same
files finds it there), and the job's workers name the packages in their
environment; a Python worker fetches and unpacks each into a cache on
its node (once per node) before it runs anything, puts them on sys.path,
and runs in the working directory's copy."""

import fnmatch
import hashlib
import io
import os
import shutil
import sys
import tempfile
import zipfile

NAMESPACE = "rayo.python"
CHUNK = 1 << 20
# Ray's limit on a working_dir.
MAX_PACKAGE = 100 << 20
ENV_WORKING_DIR = "RAYO_PY_WORKING_DIR"
ENV_PY_MODULES = "RAYO_PY_MODULES"
_ALWAYS_EXCLUDED = (".git", "__pycache__", ".pytest_cache")


class Package:
    def __init__(self, data, module_name=None):
        self.data = data
        self.hash = hashlib.sha256(data).hexdigest()
        self.module_name = module_name


def pack(path, excludes=(), as_module=False):
    """Zips the directory (or, for a module, the file) at path. A module's
    zip holds it under its own name, so that its parent goes on sys.path."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise ValueError("runtime_env names %r, which does not exist" % path)
    if not as_module and not os.path.isdir(path):
        raise ValueError("working_dir %r is not a directory" % path)
    buf = io.BytesIO()
    total = 0
    prefix = os.path.basename(path.rstrip(os.sep)) if as_module else ""
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if os.path.isfile(path):
            z.write(path, os.path.basename(path))
        else:
            for root, dirs, files in os.walk(path):
                rel_root = os.path.relpath(root, path)
                dirs[:] = sorted(d for d in dirs if not _excluded(os.path.normpath(os.path.join(rel_root, d)), d, excludes))
                for f in sorted(files):
                    rel = os.path.normpath(os.path.join(rel_root, f))
                    if _excluded(rel, f, excludes):
                        continue
                    full = os.path.join(root, f)
                    total += os.path.getsize(full)
                    if total > MAX_PACKAGE:
                        raise ValueError("%s holds over %d MiB: exclude what the tasks do not need (excludes=[...])"
                                         % (path, MAX_PACKAGE >> 20))
                    # Fixed times: the same files make the same hash.
                    info = zipfile.ZipInfo(os.path.join(prefix, rel), date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = (os.stat(full).st_mode & 0o777) << 16
                    with open(full, "rb") as src:
                        z.writestr(info, src.read(), zipfile.ZIP_DEFLATED)
    return Package(buf.getvalue(), prefix or None)


def _excluded(rel, name, excludes):
    if name in _ALWAYS_EXCLUDED:
        return True
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in excludes)


def upload(core, pkg):
    """Puts pkg in the head's store unless it is there."""
    key = "pkg/%s" % pkg.hash
    chunks = [pkg.data[i:i + CHUNK] for i in range(0, len(pkg.data), CHUNK)] or [b""]
    if core.call("py.kv.get", {"ns": NAMESPACE, "k": key + "/n"})["found"]:
        return
    for i, c in enumerate(chunks):
        core.call("py.kv.put", {"ns": NAMESPACE, "k": "%s/%d" % (key, i), "v": c, "over": True})
    # The count goes last: a package with a count is whole.
    core.call("py.kv.put", {"ns": NAMESPACE, "k": key + "/n", "v": str(len(chunks)).encode(), "over": True})


def _cache_dir():
    d = os.path.join(tempfile.gettempdir(), "rayo-py-packages-%d" % os.geteuid())
    os.makedirs(d, mode=0o700, exist_ok=True)
    st = os.lstat(d)
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise RuntimeError("%s is not private to this user" % d)
    return d


def fetch(core, digest):
    """The directory pkg digest is unpacked in on this node, fetching it
    once."""
    target = os.path.join(_cache_dir(), digest)
    if os.path.isdir(target):
        return target
    key = "pkg/%s" % digest
    n = core.call("py.kv.get", {"ns": NAMESPACE, "k": key + "/n"})
    if not n["found"]:
        raise RuntimeError("package %s is not in the cluster's store" % digest)
    data = b"".join(core.call("py.kv.get", {"ns": NAMESPACE, "k": "%s/%d" % (key, i)})["v"] or b""
                    for i in range(int(n["v"])))
    if hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError("package %s arrived damaged" % digest)
    tmp = tempfile.mkdtemp(dir=_cache_dir(), prefix=".unpack-")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for m in z.infolist():
                dest = os.path.realpath(os.path.join(tmp, m.filename))
                if not dest.startswith(os.path.realpath(tmp) + os.sep):
                    raise RuntimeError("package %s holds a path outside it: %r" % (digest, m.filename))
            z.extractall(tmp)
        try:
            os.rename(tmp, target)  # another worker may have won: its copy is the same
        except OSError:
            if not os.path.isdir(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def driver_env(runtime_env):
    """The packages of runtime_env and the workers' environment naming them."""
    runtime_env = runtime_env or {}
    unknown = set(runtime_env) - {"working_dir", "py_modules", "env_vars", "excludes"}
    if unknown:
        raise ValueError("runtime_env does not take %s (rayo supports working_dir, py_modules, env_vars, excludes)"
                         % ", ".join(sorted(unknown)))
    excludes = list(runtime_env.get("excludes") or [])
    pkgs, env = [], {}
    wd = runtime_env.get("working_dir")
    if wd:
        p = pack(wd, excludes)
        pkgs.append(p)
        env[ENV_WORKING_DIR] = p.hash
    mods = []
    for m in runtime_env.get("py_modules") or []:
        if not isinstance(m, str):
            m = os.path.dirname(m.__file__) if os.path.basename(m.__file__) == "__init__.py" else m.__file__
        p = pack(m, excludes, as_module=True)
        pkgs.append(p)
        mods.append(p.hash)
    if mods:
        env[ENV_PY_MODULES] = ",".join(mods)
    return pkgs, env


def worker_setup(core):
    """In a worker: unpack the job's packages, chdir into the working
    directory's copy, put them on sys.path."""
    for digest in filter(None, os.environ.get(ENV_PY_MODULES, "").split(",")):
        sys.path.insert(0, fetch(core, digest))
    wd = os.environ.get(ENV_WORKING_DIR)
    if wd:
        d = fetch(core, wd)
        os.chdir(d)
        sys.path.insert(0, d)


__all__ = ["driver_env", "upload", "worker_setup"]
