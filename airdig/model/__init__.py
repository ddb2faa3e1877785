"""The unified graph: node kinds and edge types, nodes and edges, the event envelope."""

from __future__ import annotations

from airdig.model.events import TOPICS, CloudEvent
from airdig.model.graph import Drift, Edge, Health, Node
from airdig.model.kinds import EDGE_TYPES, NODE_KINDS

__all__ = ["EDGE_TYPES", "NODE_KINDS", "TOPICS", "CloudEvent", "Drift", "Edge", "Health", "Node"]
