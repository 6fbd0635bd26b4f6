"""Errors of the `audiences ml` step, each with a message a marketer or engineer can act on."""

from __future__ import annotations


class MlError(Exception):
    """Base class: the step stops and prints the message."""


class MissingTableError(MlError):
    """A table the step reads does not exist: run `dbt build` first."""


class NotEnoughDataError(MlError):
    """Too few people, orders or interactions to fit or evaluate a model."""
