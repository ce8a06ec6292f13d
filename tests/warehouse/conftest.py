"""Fixtures of the warehouse tests: ``backend``, ``warehouse_url`` and ``warehouse`` (see warehouse_backends)."""

from warehouse_backends import backend, warehouse, warehouse_url

__all__ = ["backend", "warehouse", "warehouse_url"]
