"""The diff between a model and what the destination holds, computed by SQL in the warehouse.

Every row of the model is turned into the exact text payload the destination receives
(one column per mapped field) and a fingerprint: md5 over a canonical concatenation of the
mapping's field names and the payload values, separated by the ASCII unit separator.
Comparing it with the fingerprint stored in ``reverse_etl.sync_state`` classifies each key as
added, changed, removed or unchanged. The rows to send are written to a work table in the
warehouse and read back page by page, in batches; Python never holds the whole model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reverse_etl.core.errors import ModelDataError
from reverse_etl.core.records import Record
from reverse_etl.core.sync import SyncConfig
from reverse_etl.manifest import Relation
from reverse_etl.state_schema import SCHEMA, T_STATE
from reverse_etl.warehouse.base import Warehouse


@dataclass(frozen=True)
class DiffCounts:
    added: int
    changed: int
    removed: int
    unchanged: int

    @property
    def total_model(self) -> int:
        return self.added + self.changed + self.unchanged


class Diff:
    def __init__(
        self,
        wh: Warehouse,
        sync: SyncConfig,
        relation: Relation,
        key_normalization: str = "none",
        full_resync: bool = False,
    ):
        self.wh = wh
        self.sync = sync
        self.relation = relation
        self.full_resync = full_resync
        self.fields = list(sync.mapping)
        cols = wh.columns(relation.schema, relation.identifier)
        if not cols:
            raise ModelDataError(
                f"sync {sync.name!r}: relation {relation.schema}.{relation.identifier} "
                f"(model {sync.model!r}) does not exist in the warehouse; run `dbt build`"
            )
        needed = [sync.identity, *sync.mapping.values(), *(sync.where or {})]
        missing = sorted({c for c in needed if c.lower() not in cols})
        if missing:
            raise ModelDataError(
                f"sync {sync.name!r}: model {sync.model!r} has no column(s) {', '.join(missing)} "
                f"(available: {', '.join(cols)}); fix 'identity' / 'mapping' in syncs.yml"
            )
        self._cols = cols
        q = wh.quote
        key = wh.to_text(q(sync.identity), cols[sync.identity.lower()])
        if key_normalization == "lower_trim":
            key = f"lower(trim({key}))"
        self.key_expr = key
        exprs = [
            f"{wh.to_text(q(col), cols[col.lower()])} AS f{i}"
            for i, col in enumerate(sync.mapping.values())
        ]
        header = wh.literal(",".join(self.fields))
        canon = " || chr(31) || ".join(
            [header, "k"] + [f"COALESCE(f{i}, '')" for i in range(len(self.fields))]
        )
        where = ""
        if sync.where:
            conds = []
            for col, val in sync.where.items():
                vals = ", ".join(
                    wh.literal(str(v)) for v in (val if isinstance(val, list) else [val])
                )
                conds.append(f"{wh.to_text(q(col), cols[col.lower()])} IN ({vals})")
            where = " WHERE " + " AND ".join(conds)
        self.src = f"SELECT {key} AS k, {', '.join(exprs)} FROM {relation.sql(q)}{where}"
        self.src_fp = (
            f"SELECT s.*, {wh.md5(canon)} AS fp FROM ({self.src}) s "
            "WHERE s.k IS NOT NULL AND s.k <> ''"
        )
        self.st = f"SELECT key, fingerprint, dest_id FROM {T_STATE} WHERE sync_name = ?"
        self.fcols = ", ".join(f"s.f{i}" for i in range(len(self.fields)))

    # --- checks ------------------------------------------------------------------------
    def check_keys(self) -> tuple[int, int]:
        """Return (rows, rows without identity); raise on duplicate identities."""
        rows, nulls, distinct = self.wh.query(
            f"SELECT count(*), count(*) FILTER (WHERE k IS NULL OR k = ''), count(DISTINCT k) "
            f"FROM ({self.src}) s"
        )[0]
        non_null = int(rows) - int(nulls)
        if int(distinct) != non_null:
            dupes = self.wh.query(
                f"SELECT k, count(*) FROM ({self.src}) s WHERE k IS NOT NULL AND k <> '' "
                "GROUP BY k HAVING count(*) > 1 ORDER BY count(*) DESC, k LIMIT 3"
            )
            sample = ", ".join(f"{r[0]!r} x{r[1]}" for r in dupes)
            raise ModelDataError(
                f"sync {self.sync.name!r}: identity column {self.sync.identity!r} of model "
                f"{self.sync.model!r} is not unique "
                f"({non_null - int(distinct)} duplicate rows, e.g. "
                f"{sample}); the model must have one row per {self.sync.identity}"
            )
        return int(rows), int(nulls)

    def maxima(self, columns: tuple[str, ...]) -> dict[str, str | None]:
        """The greatest value of each column of the model, as the text a destination
        receives (None when the model is empty)."""
        if not columns:
            return {}
        missing = sorted(c for c in columns if c.lower() not in self._cols)
        if missing:
            raise ModelDataError(
                f"sync {self.sync.name!r}: model {self.sync.model!r} has no column(s) "
                f"{', '.join(missing)} (the destination reads them once a run is complete)"
            )
        q = self.wh.quote
        exprs = ", ".join(self.wh.to_text(f"max({q(c)})", self._cols[c.lower()]) for c in columns)
        row = self.wh.query(f"SELECT {exprs} FROM {self.relation.sql(q)}")[0]
        return {c: None if v is None else str(v) for c, v in zip(columns, row, strict=True)}

    # --- SQL ---------------------------------------------------------------------------
    def _changed_pred(self) -> str:
        return "TRUE" if self.full_resync else "st.key IS NULL OR s.fp <> st.fingerprint"

    def upsert_sql(self, limit: int | None = None, action: str | None = None) -> str:
        where = f"({self._changed_pred()})"
        if action == "add":
            where += " AND st.key IS NULL"
        elif action == "change":
            where += " AND st.key IS NOT NULL"
        # A full resync re-sends every row as new (list memberships included).
        label = (
            "'add'" if self.full_resync else "CASE WHEN st.key IS NULL THEN 'add' ELSE 'change' END"
        )
        sql = (
            f"SELECT {label} AS action, "
            f"s.k, s.fp, st.dest_id, {self.fcols} "
            f"FROM ({self.src_fp}) s LEFT JOIN ({self.st}) st ON s.k = st.key WHERE {where}"
        )
        if limit is not None:
            sql += f" ORDER BY s.k LIMIT {int(limit)}"
        return sql

    def removal_sql(self, limit: int | None = None) -> str:
        sql = (
            f"SELECT 'remove' AS action, st.key, NULL AS fp, st.dest_id "
            f"FROM ({self.st}) st WHERE NOT EXISTS "
            f"(SELECT 1 FROM ({self.src_fp}) s WHERE s.k = st.key)"
        )
        if limit is not None:
            sql += f" ORDER BY st.key LIMIT {int(limit)}"
        return sql

    def counts(self) -> DiffCounts:
        rows = self.wh.query(
            f"SELECT CASE WHEN st.key IS NULL THEN 'add' WHEN s.k IS NULL THEN 'remove' "
            f"WHEN s.fp <> st.fingerprint THEN 'change' ELSE 'unchanged' END AS action, count(*) "
            f"FROM ({self.src_fp}) s FULL OUTER JOIN ({self.st}) st ON s.k = st.key GROUP BY 1",
            (self.sync.name,),
        )
        c = {str(a): int(n) for a, n in rows}
        removed = c.get("remove", 0) if self.sync.mode == "mirror" else 0
        if self.full_resync:
            return DiffCounts(
                c.get("add", 0) + c.get("change", 0) + c.get("unchanged", 0), 0, removed, 0
            )
        return DiffCounts(c.get("add", 0), c.get("change", 0), removed, c.get("unchanged", 0))

    # --- rows --------------------------------------------------------------------------
    def _record(self, row: tuple[Any, ...]) -> Record:
        action, key, fp, dest_id = row[0], row[1], row[2], row[3]
        fields = {}
        if action != "remove":
            fields = {
                f: ("" if v is None else str(v)) for f, v in zip(self.fields, row[4:], strict=True)
            }
        return Record(
            key=str(key),
            action=action,
            fingerprint=fp,
            fields=fields,
            dest_id=None if dest_id is None else str(dest_id),
        )

    # --- the run's work table ---------------------------------------------------------
    @property
    def pending_table(self) -> str:
        return f"{SCHEMA}.pending__{self.sync.name}"

    def materialize(self) -> int:
        """Write this run's diff (upserts first, then removals) into a work table, numbered
        by ``seq``; return its row count. Reading it back page by page keeps every read
        short: a snapshot held open for the whole run would stop DuckDB from checkpointing
        the per-batch commits, and its memory would grow with the row count."""
        t = self.pending_table
        wh = self.wh
        wh.execute(f"DROP TABLE IF EXISTS {t}")
        wh.execute(
            f"CREATE TABLE {t} AS SELECT row_number() OVER () AS seq, u.* "
            f"FROM ({self.upsert_sql()}) u",
            (self.sync.name,),
        )
        if self.sync.mode == "mirror":
            (n,) = wh.query(f"SELECT count(*) FROM {t}")[0]
            nulls = ", ".join(f"NULL AS f{i}" for i in range(len(self.fields)))
            wh.execute(
                f"INSERT INTO {t} SELECT {int(n)} + row_number() OVER () AS seq, r.*, {nulls} "
                f"FROM ({self.removal_sql()}) r",
                (self.sync.name,),
            )
        if wh.dialect == "postgres":
            wh.execute(f"CREATE INDEX ON {t} (seq)")
        return int(wh.query(f"SELECT count(*) FROM {t}")[0][0])

    def drop_pending(self) -> None:
        self.wh.execute(f"DROP TABLE IF EXISTS {self.pending_table}")

    def stream_pending(
        self, batch_size: int, page_size: int = 5000
    ) -> Iterator[tuple[str, list[Record]]]:
        """Yield (kind, records) batches of at most ``batch_size``: kind is ``upsert`` (add /
        change) or ``remove``; a batch never mixes kinds. Python holds one page at a time."""
        t = self.pending_table
        # text columns and '' for NULL straight from SQL: a record is then one zip per row
        cols = ", ".join(
            ["action", "k", "fp", "dest_id"]
            + [f"COALESCE(f{i}, '')" for i in range(len(self.fields))]
        )
        names = self.fields
        total = int(self.wh.query(f"SELECT count(*) FROM {t}")[0][0])
        batch: list[Record] = []
        kind = "upsert"
        for lo in range(0, total, page_size):
            rows = self.wh.query(
                f"SELECT {cols} FROM {t} WHERE seq > ? AND seq <= ? ORDER BY seq",
                (lo, lo + page_size),
            )
            for row in rows:
                action = row[0]
                rec = Record(
                    key=row[1],
                    action=action,
                    fingerprint=row[2],
                    fields={} if action == "remove" else dict(zip(names, row[4:], strict=True)),
                    dest_id=row[3],
                )
                rkind = "remove" if action == "remove" else "upsert"
                if batch and (rkind != kind or len(batch) >= batch_size):
                    yield kind, batch
                    batch = []
                kind = rkind
                batch.append(rec)
        if batch:
            yield kind, batch

    def model_fields(self, page_size: int = 5000) -> Iterator[dict[str, str]]:
        """Every row of the model as the destination fields ('' for NULL), page by page
        (for the match rates of a plan: :mod:`reverse_etl.match_rates`)."""
        cols = ", ".join(f"COALESCE(f{i}, '')" for i in range(len(self.fields)))
        sql = f"SELECT {cols} FROM ({self.src}) s WHERE s.k IS NOT NULL AND s.k <> ''"
        for page in self.wh.stream(sql, (), page_size):
            for row in page:
                yield dict(zip(self.fields, row, strict=True))

    def samples(self, n: int = 5) -> dict[str, list[Record]]:
        out = {
            "add": [
                self._record(r) for r in self.wh.query(self.upsert_sql(n, "add"), (self.sync.name,))
            ],
            "change": [
                self._record(r)
                for r in self.wh.query(self.upsert_sql(n, "change"), (self.sync.name,))
            ],
            "remove": [],
        }
        if self.sync.mode == "mirror":
            out["remove"] = [
                self._record(r) for r in self.wh.query(self.removal_sql(n), (self.sync.name,))
            ]
        return out
