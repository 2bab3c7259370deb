"""A real rayo head for the Python tests: the binary built from this
checkout, started on random ports in a private directory, stopped even when
a test fails."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_rayo(out_dir):
    """Builds ./cmd/rayo into out_dir once; skips without a Go toolchain."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("these tests start a real head: they need the Go toolchain (go) on PATH to build ./cmd/rayo")
    path = os.path.join(out_dir, "rayo")
    res = subprocess.run([go, "build", "-o", path, "./cmd/rayo"], cwd=REPO, capture_output=True, text=True, timeout=600)
    if res.returncode:
        pytest.fail("go build ./cmd/rayo:\n" + res.stdout + res.stderr)
    return path


def poll(cond, what, timeout=60.0, interval=0.02):
    """Waits until cond() is true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(interval)


def clean_env(env):
    """env without the settings that would point a process at another cluster."""
    return {k: v for k, v in env.items() if not k.startswith("RAYO_")}


class Head:
    """`rayo start --head --block` on port 0 under a private root: TMPDIR
    (so its Unix sockets are this head's alone) and --temp-dir are in it."""

    def __init__(self, rayo, tls=True):
        self.rayo = rayo
        # Short, under /tmp: a Unix socket's path holds at most 107 bytes.
        self.root = tempfile.mkdtemp(prefix="rayo-py-")
        self.tmpdir = os.path.join(self.root, "tmp")
        self.temp_dir = os.path.join(self.root, "rayo")
        os.mkdir(self.tmpdir, 0o700)
        self.env = clean_env(os.environ)
        self.env["TMPDIR"] = self.tmpdir
        args = [rayo, "start", "--head", "--block", "--port", "0", "--temp-dir", self.temp_dir,
                "--dashboard-port", "0", "--num-cpus", "1", "--object-store-memory", str(64 << 20)]
        if not tls:
            args.append("--tls=false")
        self.log_path = os.path.join(self.root, "head.log")
        with open(self.log_path, "wb") as log:
            # Its own process group, to be killed whole.
            self.proc = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.session = poll(self._session, "the head's address in " + self.temp_dir)
            with open(os.path.join(self.session, "address")) as f:
                self.address = f.read().strip()
            with open(os.path.join(self.session, "token")) as f:
                self.token = f.read().strip()
        except BaseException:
            self.stop()
            raise

    def _session(self):
        if self.proc.poll() is not None:
            pytest.fail("rayo start --head exited with %s:\n%s" % (self.proc.returncode, self.log()))
        path = os.path.join(self.temp_dir, "session_latest")
        return os.path.realpath(path) if os.path.exists(os.path.join(path, "address")) else None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    @property
    def socket_dir(self):
        return os.path.join(self.tmpdir, "rayo-sock-%d" % os.geteuid())

    def signal(self, sig):
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGSTOP:
            # The stop is asynchronous: a call sent before it takes effect
            # would still be answered.
            poll(lambda: self._state() == "T", "the head to be stopped")

    def _state(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def _daemon_pids(self):
        """Pids of this head's daemons still running (the node daemon runs
        in a process group of its own), checked by their command line."""
        pids = []
        d = os.path.join(getattr(self, "session", "") or "/nonexistent", "pids")
        for name in os.listdir(d) if os.path.isdir(d) else ():
            try:
                with open(os.path.join(d, name)) as f:
                    pid = int(f.readline())
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if self.temp_dir.encode() in f.read():
                        pids.append(pid)
            except (OSError, ValueError):
                pass
        return pids

    def stop(self):
        try:
            subprocess.run([self.rayo, "stop", "--temp-dir", self.temp_dir, "--grace-period", "5s"], env=self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        for pid in self._daemon_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait(timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
