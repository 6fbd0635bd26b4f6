"""Audiences: behavioural segments built with dbt, synced to marketing tools."""

__version__ = "0.1.0"
