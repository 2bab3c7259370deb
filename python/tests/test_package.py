"""The package imports with Debian's packages alone."""

import rayo


def test_imports():
    assert rayo.__doc__
