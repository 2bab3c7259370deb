"""rayo.util: placement groups, scheduling strategies and ActorPool
(Ray's ray.util)."""

from .actor_pool import ActorPool
from .placement_group import (PlacementGroup, get_current_placement_group, get_placement_group, placement_group,
                              placement_group_table, remove_placement_group)

__all__ = ["ActorPool", "PlacementGroup", "placement_group", "remove_placement_group", "get_placement_group",
           "placement_group_table", "get_current_placement_group"]
