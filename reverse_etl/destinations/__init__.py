"""Destinations: one module per marketing tool behind :mod:`reverse_etl.destinations.base`."""

from reverse_etl.destinations.base import (
    Destination,
    Limits,
    Outcome,
    Record,
    RowResult,
    build_destination,
)

__all__ = ["Destination", "Limits", "Outcome", "Record", "RowResult", "build_destination"]
