"""The engine's vocabulary: records, row results, outcomes, limits, sync definitions, errors
and the clock. No I/O, and no import of any other module of this project: everything else
imports from here (docs/architecture.md)."""

from reverse_etl.core.clock import now
from reverse_etl.core.errors import (
    BatchRejectedError,
    ConfigError,
    CredentialsError,
    DestinationError,
    GateError,
    ManifestError,
    ModelDataError,
    QuotaExhaustedError,
    ReverseEtlError,
    SafetyBrakeError,
    StateAccountError,
    TransientError,
    WarehouseError,
)
from reverse_etl.core.records import Action, Limits, Outcome, Record, RowResult
from reverse_etl.core.sync import RateLimit, SyncConfig

__all__ = [
    "Action",
    "BatchRejectedError",
    "ConfigError",
    "CredentialsError",
    "DestinationError",
    "GateError",
    "Limits",
    "ManifestError",
    "ModelDataError",
    "Outcome",
    "QuotaExhaustedError",
    "RateLimit",
    "Record",
    "ReverseEtlError",
    "RowResult",
    "SafetyBrakeError",
    "StateAccountError",
    "SyncConfig",
    "TransientError",
    "WarehouseError",
    "now",
]
