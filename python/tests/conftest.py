"""pytest setup: the tests import the package from this checkout, and
fixtures start real clusters with the rayo binary built from it (in the
manner of Ray's ray_start_regular and shutdown_only)."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import rayo  # noqa: E402
from rayohead import build_rayo  # noqa: E402


@pytest.fixture(scope="session")
def rayo_bin(tmp_path_factory):
    return build_rayo(str(tmp_path_factory.mktemp("bin")))


class _Env:
    """Sets environment variables for a fixture's scope, and restores them."""

    def __init__(self, **env):
        self.saved = {k: os.environ.get(k) for k in list(os.environ) if k.startswith("RAYO_")}
        self.saved.update({k: os.environ.get(k) for k in env})
        for k in list(os.environ):
            if k.startswith("RAYO_"):
                del os.environ[k]
        os.environ.update(env)

    def restore(self):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _start(rayo_bin, **init_args):
    env = _Env(RAYO_BINARY=rayo_bin)
    temp = tempfile.mkdtemp(prefix="rayo-pyt-")
    try:
        rayo.init(num_cpus=init_args.pop("num_cpus", 2), _temp_dir=temp, **init_args)
    except BaseException:
        env.restore()
        shutil.rmtree(temp, ignore_errors=True)
        raise

    def stop():
        rayo.shutdown()
        env.restore()
        shutil.rmtree(temp, ignore_errors=True)
    return stop


@pytest.fixture(scope="module")
def rayo_start(rayo_bin):
    """An embedded cluster of 2 CPUs for the module's tests."""
    stop = _start(rayo_bin)
    yield
    stop()


@pytest.fixture
def shutdown_only(rayo_bin):
    """No cluster: the test calls rayo.init itself (RAYO_BINARY is set);
    whatever it started is shut down after it."""
    env = _Env(RAYO_BINARY=rayo_bin)
    temp = tempfile.mkdtemp(prefix="rayo-pyt-")
    yield temp
    rayo.shutdown()
    env.restore()
    shutil.rmtree(temp, ignore_errors=True)
