"""reverse_etl: keep marketing destinations exactly in step with the audience marts.

See docs/architecture.md and docs/decisions/0003-sync-state-in-the-warehouse.md.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
