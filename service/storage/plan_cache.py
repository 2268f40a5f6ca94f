"""Compiled plans kept per process (API and worker), so many jobs on one graph load it once (graphs never change)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from service.graph import Plan

from .graph_rows import load_plan
from .models import Graph


class PlanCache:
    def __init__(self, size: int):
        self.size = size
        self._plans: OrderedDict[str, tuple[Plan, int]] = OrderedDict()  # graph id -> (plan, tenant id)
        self._lock = threading.Lock()

    def get(self, session: Session, graph_id: str) -> Plan | None:
        """The graph's plan, loaded on first use; None if there is no such graph (deleted)."""
        with self._lock:
            entry = self._plans.get(graph_id)
            if entry is not None:
                self._plans.move_to_end(graph_id)
                return entry[0]
        graph = session.get(Graph, graph_id)
        if graph is None:
            return None
        plan = load_plan(session, graph)
        with self._lock:
            self._plans[graph_id] = (plan, graph.tenant_id)
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)
        return plan

    def cached(self, graph_id: str) -> Plan | None:
        """The plan if it is here (no loading)."""
        with self._lock:
            entry = self._plans.get(graph_id)
            return entry[0] if entry is not None else None

    def cached_for(self, graph_id: str, tenant_id: int) -> Plan | None:
        """The plan if it is here and the graph belongs to ``tenant_id`` (it may have been deleted since)."""
        with self._lock:
            entry = self._plans.get(graph_id)
            if entry is None or entry[1] != tenant_id:
                return None
            self._plans.move_to_end(graph_id)
            return entry[0]
