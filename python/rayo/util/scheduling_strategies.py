"""Scheduling strategies (Ray's ray.util.scheduling_strategies), passed as
scheduling_strategy= to .options() of tasks and actors; "DEFAULT" and
"SPREAD" are given as strings."""

__all__ = ["PlacementGroupSchedulingStrategy", "NodeAffinitySchedulingStrategy", "NodeLabelSchedulingStrategy"]


class PlacementGroupSchedulingStrategy:
    """Runs the task or actor in a bundle of a placement group
    (placement_group_bundle_index -1: any of its bundles)."""

    def __init__(self, placement_group, placement_group_bundle_index=-1, placement_group_capture_child_tasks=None):
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks


class NodeAffinitySchedulingStrategy:
    """Runs on the node node_id (hex); soft=True falls back to any node when
    that one is dead or cannot hold it."""

    def __init__(self, node_id, soft, _spill_on_unavailable=False, _fail_on_unavailable=False):
        self.node_id = node_id
        self.soft = soft
        self._spill_on_unavailable = _spill_on_unavailable
        self._fail_on_unavailable = _fail_on_unavailable


class NodeLabelSchedulingStrategy:
    """Runs on nodes whose labels match hard (a dict of label to value, or
    to In(...)/NotIn(...)/Exists()/DoesNotExist()); soft is not supported."""

    def __init__(self, hard, *, soft=None):
        self.hard = hard
        self.soft = soft


class In:
    def __init__(self, *values):
        self.values = values


class NotIn:
    def __init__(self, *values):
        self.values = values


class Exists:
    pass


class DoesNotExist:
    pass
