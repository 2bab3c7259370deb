"""Placement groups (Ray's ray.util.placement_group)."""

from .. import _runtime

__all__ = ["PlacementGroup", "placement_group", "remove_placement_group", "get_placement_group",
           "placement_group_table", "get_current_placement_group"]

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


class PlacementGroup:
    """A group of resource bundles reserved together. Pass it to tasks and
    actors with PlacementGroupSchedulingStrategy (or the older
    placement_group= option)."""

    def __init__(self, pg_id, bundle_specs=None):
        self.id = pg_id
        self._bundles = bundle_specs

    @property
    def bundle_specs(self):
        if self._bundles is None:
            self._bundles = _info(self.id)["bundles"]
        return self._bundles

    @property
    def bundle_count(self):
        return len(self.bundle_specs)

    def ready(self):
        """An ObjectRef that resolves once every bundle is reserved (as in
        Ray, a task run in the group)."""
        from .scheduling_strategies import PlacementGroupSchedulingStrategy

        return _ready_task.options(scheduling_strategy=PlacementGroupSchedulingStrategy(self)).remote(self.id)

    def wait(self, timeout_seconds=30):
        """True once every bundle is reserved; False after timeout_seconds."""
        t = -1.0 if timeout_seconds is None else float(timeout_seconds)
        return _runtime.current().call("py.pg.ready", {"id": self.id, "t": t})["ready"]

    def __eq__(self, other):
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return "PlacementGroup(%s)" % self.id


def _ready(pg_id):
    return True


_ready_task = None


def _init_ready_task():
    global _ready_task
    from .._remote import RemoteFunction
    _ready_task = RemoteFunction(_ready, {"num_cpus": 0})


_init_ready_task()


def _info(pg_id):
    return _runtime.current().call("py.pg.get", {"id": pg_id, "t": -1.0})


def placement_group(bundles, strategy="PACK", name="", lifetime=None, _soft_target_node_id=None, bundle_label_selector=None):
    """Reserves bundles (a list of resource dicts) with strategy: PACK,
    SPREAD, STRICT_PACK or STRICT_SPREAD. lifetime="detached" keeps the
    group after the job ends."""
    if not isinstance(bundles, (list, tuple)) or not bundles:
        raise ValueError("placement_group needs a non-empty list of bundles, got %r" % (bundles,))
    for b in bundles:
        if not isinstance(b, dict) or not b or any(not isinstance(v, (int, float)) or v < 0 for v in b.values()):
            raise ValueError("each bundle must be a non-empty dict of resource to amount at least 0, got %r" % (b,))
        if all(v == 0 for v in b.values()):
            raise ValueError("bundle %r asks for nothing" % (b,))
    if strategy not in STRATEGIES:
        raise ValueError("strategy must be one of %s, not %r" % (", ".join(STRATEGIES), strategy))
    if lifetime not in (None, "detached"):
        raise ValueError("lifetime must be None or 'detached', not %r" % (lifetime,))
    if _soft_target_node_id is not None or bundle_label_selector is not None:
        raise NotImplementedError("_soft_target_node_id and bundle_label_selector are not supported by rayo")
    m = {"bundles": [{k: float(v) for k, v in b.items()} for b in bundles], "strategy": strategy}
    if name:
        m["name"] = name
    if lifetime == "detached":
        m["detached"] = True
    info = _runtime.current().call("py.pg.create", m)
    return PlacementGroup(info["id"], [dict(b) for b in bundles])


def remove_placement_group(placement_group):
    """Removes the group; its tasks and actors are killed."""
    if not isinstance(placement_group, PlacementGroup):
        raise TypeError("remove_placement_group takes a PlacementGroup, not a %s" % type(placement_group).__name__)
    _runtime.current().call("py.pg.remove", {"id": placement_group.id, "t": -1.0})


def get_placement_group(placement_group_name, namespace=None):
    """The live group of that name (in this job's namespace by default)."""
    m = {"name": placement_group_name, "t": -1.0}
    if namespace:
        m["ns"] = namespace
    try:
        info = _runtime.current().call("py.pg.get", m)
    except _runtime._exc.RayError as e:
        raise ValueError("Failed to look up placement group with name: %s (%s)" % (placement_group_name, e)) from None
    return PlacementGroup(info["id"], info["bundles"])


def _table_entry(info):
    return {
        "placement_group_id": info["id"],
        "name": info["name"],
        "bundles": dict(enumerate(info["bundles"])),
        "bundles_to_node_id": {i: n for i, n in enumerate(info["nodes"]) if n},
        "strategy": info["strategy"],
        "state": info["state"],
        "is_detached": info["detached"],
    }


def placement_group_table(placement_group=None):
    """Ray's table: one group's entry, or every group's by ID."""
    if placement_group is not None:
        return _table_entry(_info(placement_group.id))
    groups = _runtime.current().call("py.pg.list", {})["groups"]
    return {g["id"]: _table_entry(g) for g in groups}


def get_current_placement_group():
    """The group the running task or actor is in, None outside one."""
    from .. import _context

    pg = _context.call_context().get("pg")
    return PlacementGroup(pg) if pg else None
