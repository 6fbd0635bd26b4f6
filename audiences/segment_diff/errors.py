"""The two ways `audiences diff` stops early: bad usage (exit 2) or a failed build (exit 1)."""

from __future__ import annotations

import click


class DiffUsageError(click.UsageError):
    """A missing or unusable artefact or flag (exit code 2): the message says which."""


class DiffBuildError(click.ClickException):
    """dbt could not build the pull request's segments, or they cannot be compared (exit 1)."""

    exit_code = 1
