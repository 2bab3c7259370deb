"""A worker's dataset shard, streamed from the worker in Arrow's columns."""

from . import _conn


def _decode(head, payload):
    """The batch a shard_next reply carries: numeric and bool columns are
    views of the payload (a uint8 array read from the socket, 64-byte
    aligned, as each column within it), fixed-size lists 2-D (or deeper),
    strings object arrays (None for nulls)."""
    import numpy as np

    out = {}
    for c in head["columns"]:
        if c["dtype"] == "str":
            a = np.empty(len(c["values"]), dtype=object)
            a[:] = c["values"]
            out[c["name"]] = a
            continue
        dtype = np.dtype(c["dtype"])
        shape = tuple(c["shape"])
        n = 1
        for d in shape:
            n *= d
        if n == 0:
            out[c["name"]] = np.empty(shape, dtype=dtype)
            continue
        off = c["offset"]
        out[c["name"]] = payload[off:off + n * dtype.itemsize].view(dtype).reshape(shape)
    return out


class DataShard:
    """This worker's shard of a dataset (Ray's DataIterator).

    Each iteration streams one epoch from the worker. One iteration of a
    shard at a time: starting another ends the one before (whose next
    step raises TrainError)."""

    def __init__(self, name):
        self.name = name

    def iter_batches(self, *, batch_size=256, batch_format="numpy", drop_last=False, prefetch_batches=None):
        """Yields the epoch's batches as dicts of column name to numpy
        array. batch_size None takes the dataset's own blocks; drop_last
        skips a last batch shorter than batch_size. batch_format: "numpy"
        (or "default"). prefetch_batches is accepted for Ray's signature."""
        if batch_format not in ("numpy", "default"):
            raise ValueError("iter_batches: batch_format %r is not supported (use \"numpy\")" % (batch_format,))
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError("iter_batches: batch_size must be a positive int or None, not %r" % (batch_size,))
        return self._batches(batch_size or 0, drop_last)

    def _batches(self, batch_size, drop_last):
        conn = _conn.current()
        ok, payload = conn.call("shard_next", name=self.name, batch_size=batch_size, start=True)
        epoch = ok.get("epoch")
        while not ok.get("done"):
            if not (drop_last and batch_size and ok["rows"] < batch_size):
                yield _decode(ok, payload)
            ok, payload = conn.call("shard_next", name=self.name, batch_size=batch_size, start=False, epoch=epoch)

    def iter_torch_batches(self, *, batch_size=256, dtypes=None, device="auto", drop_last=False, collate_fn=None,
                           prefetch_batches=None):
        """Yields the epoch's batches as dicts of column name to torch
        tensor on device ("auto": rayo.train.torch.get_device()). dtypes:
        one torch dtype, or a dict of column name to dtype. String
        columns stay numpy object arrays. collate_fn, if given, gets each
        numpy batch and returns what to yield."""
        import torch

        from .torch import get_device

        dev = get_device() if device == "auto" else torch.device(device)
        for batch in self.iter_batches(batch_size=batch_size, drop_last=drop_last):
            if collate_fn is not None:
                yield collate_fn(batch)
                continue
            out = {}
            for k, v in batch.items():
                if v.dtype == object:
                    out[k] = v
                    continue
                dt = dtypes.get(k) if isinstance(dtypes, dict) else dtypes
                out[k] = torch.as_tensor(v, dtype=dt, device=dev)
            yield out

    def __repr__(self):
        return "DataShard(%r)" % self.name
