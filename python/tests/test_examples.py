"""examples/python runs as its docs say: the quick start against the
embedded default cluster, with the Go binary it calls into, and the Go
program calling Python."""

import os
import subprocess

from rayohead import REPO, clean_env


def _go_build(out_dir, pkg):
    path = os.path.join(out_dir, os.path.basename(pkg))
    res = subprocess.run(["go", "build", "-o", path, pkg], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return path


def test_quickstart(rayo_bin, tmp_path):
    calc = _go_build(str(tmp_path), "./examples/python/calc")
    env = clean_env(os.environ)
    env.update({"RAYO_BINARY": rayo_bin, "PYTHONPATH": os.path.join(REPO, "python"), "TMPDIR": str(tmp_path)})
    res = subprocess.run(["/usr/bin/python3", "examples/python/quickstart.py", calc], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "squares: [0, 1, 4, 9, 16, 25, 36, 49]" in out
    assert "counter: 13" in out
    assert "a copy: False" in out
    assert "calc.add(40, 2) in Go: 42" in out
    assert "calc.Accumulator in Go: [101, 103]" in out
    assert "calc.sum of a numpy array in Go: 10.0" in out


def test_go_calls_python(tmp_path):
    calc = _go_build(str(tmp_path), "./examples/python/calc")
    env = clean_env(os.environ)
    env.update({"RAYO_PYTHON": "/usr/bin/python3", "TMPDIR": str(tmp_path)})
    res = subprocess.run([calc], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "pymath.square(7) from Go: 49" in res.stdout
    assert "pymath.Greeter from Go: hello, rayo" in res.stdout
