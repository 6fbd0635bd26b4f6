"""Deterministic demo data for the raw source contract (events, orders, order_items,
customers, email_events), written straight into a DuckDB schema.

    from audiences.generator import GenerationConfig, generate, profile
"""

from audiences.generator.config import GenerationConfig, GenerationSummary
from audiences.generator.profile import profile
from audiences.generator.runner import generate

__all__ = ["GenerationConfig", "GenerationSummary", "generate", "profile"]
