"""rayo for Python: Ray's programming model on rayo's Go engine.

A pure-Python package (no compiled extension) that speaks the cluster's
own wire protocol and value format (docs/encoding.md), with its
dependencies from Debian's packages (python3-msgpack, python3-cloudpickle,
python3-numpy). Issue 19 builds it in layers; so far: the value format
(rayo._codec) and the transport (rayo._rpc).
"""

__all__ = []
