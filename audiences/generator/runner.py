"""Orchestration: device batches → events, orders, email, CRM → staging → publish."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from audiences.generator import campaigns as campaign_effect
from audiences.generator import clickstream, commerce, crm, email, population, surveys
from audiences.generator.catalog import (
    EVENT_TYPES,
    PAGE_TYPES,
    PT,
    catalog,
    category_names,
    strings,
)
from audiences.generator.commerce import DAY, MIN, SEC
from audiences.generator.config import AppendError, GenerationConfig, GenerationSummary
from audiences.generator.ids import lookup, salt, stream, timestamps, uuid_ids
from audiences.generator.writer import TABLES, Writer, quote

EPOCH = datetime(1970, 1, 1)
MAX_BATCH_DEVICES = 20_000
RETURNING_SHARE = 0.3
LATE_APPEND_SHARE = 0.02


def to_ms(ts: datetime) -> int:
    return int((ts - EPOCH).total_seconds() * 1000)


@dataclass
class ExistingState:
    max_occurred: int  # ms
    max_loaded: int  # ms, over every loaded_at / updated_at column
    max_any: int  # ms, latest timestamp of any table


def read_state(con: duckdb.DuckDBPyConnection, schema: str) -> ExistingState:
    s = quote(schema)
    have = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
        ).fetchall()
    }
    if "events" not in have:
        raise AppendError(
            f"--append needs an existing {schema}.events table; run without --append first"
        )
    ev = con.execute(
        f"SELECT epoch_ms(max(occurred_at)), epoch_ms(max(loaded_at)) FROM {s}.events"
    ).fetchone()
    if ev[0] is None:
        raise AppendError(f"{schema}.events is empty; run without --append first")
    loaded = [ev[1]]
    anyt = [ev[0], ev[1]]
    checks = {
        "orders": ("ordered_at", "loaded_at"),
        "email_events": ("occurred_at", "loaded_at"),
        "customers": ("updated_at", "updated_at"),
    }
    for table, (occ, load) in checks.items():
        if table in have:
            r = con.execute(
                f"SELECT epoch_ms(max({occ})), epoch_ms(max({load})) FROM {s}.{table}"
            ).fetchone()
            anyt += [x for x in r if x is not None]
            if r[1] is not None:
                loaded.append(r[1])
    return ExistingState(int(ev[0]), int(max(loaded)), int(max(anyt)))


def _returning_pool(con: duckdb.DuckDBPyConnection, schema: str) -> pa.Table:
    return con.sql(
        f"""
        SELECT anonymous_id, min(device_type) AS device_type, min(browser) AS browser,
               min(os) AS os, min(country) AS country, min(region) AS region,
               min(city) AS city, max(user_id) AS user_id,
               bool_or(session_id IS NOT NULL) AS is_app
        FROM {quote(schema)}.events
        GROUP BY anonymous_id
        ORDER BY anonymous_id
        """
    ).to_arrow_table()


def _existing_people(con: duckdb.DuckDBPyConnection, schema: str) -> np.ndarray:
    """user_ids of people in the CRM who have not asked for erasure (sorted)."""
    have = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
        "AND table_name = 'customers'",
        [schema],
    ).fetchone()[0]
    if not have:
        return np.array([], dtype=object)
    rows = con.execute(
        f"""SELECT user_id FROM {quote(schema)}.customers GROUP BY user_id
            HAVING count(deleted_at) = 0 ORDER BY user_id"""
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=object)


def _reuse_known_people(
    rng: np.random.Generator, pop: population.Population, existing_users: np.ndarray
) -> None:
    """In an appended slice, half of the known people on new devices are existing customers
    on another device (cross-device), not new sign-ups."""
    n_primary = int((pop.primary >= 0).sum())
    reuse = np.zeros(pop.n_persons, dtype=bool)
    reuse[:n_primary] = rng.random(n_primary) < 0.5
    n_reuse = int(reuse.sum())
    if n_reuse == 0:
        return
    if n_reuse <= len(existing_users):
        pick = rng.choice(len(existing_users), n_reuse, replace=False)
    else:
        pick = rng.integers(0, len(existing_users), n_reuse)
    ids = np.asarray(pop.user_id.to_numpy(zero_copy_only=False), dtype=object)
    ids[reuse] = existing_users[pick]
    pop.user_id = pa.array(ids, type=pa.string())
    pop.person_is_new = pop.person_is_new & ~reuse


def _late_candidates(con: duckdb.DuckDBPyConnection, schema: str, max_occurred: int) -> pa.Table:
    return con.sql(
        f"""
        SELECT anonymous_id, arg_max(user_id, occurred_at) AS user_id,
               arg_max(session_id, occurred_at) AS session_id,
               min(device_type) AS device_type, min(browser) AS browser, min(os) AS os,
               min(country) AS country, min(region) AS region, min(city) AS city,
               epoch_ms(max(occurred_at)) AS last_ms
        FROM {quote(schema)}.events
        GROUP BY anonymous_id
        HAVING max(occurred_at) >= make_timestamp(?::BIGINT * 1000) - INTERVAL 24 HOUR
        ORDER BY anonymous_id
        """,
        params=[max_occurred],
    ).to_arrow_table()


def _late_events(
    rng: np.random.Generator,
    cands: pa.Table,
    n: int,
    prev_max_occurred: int,
    floor: int,
    as_of: int,
    id_salt: int,
) -> pa.Table:
    """Events that happened in the previous period (continuing a device's last session)
    but only arrive now: downstream incremental models must re-open those sessions."""
    if cands.num_rows == 0 or n <= 0:
        return pa.table({})
    cat = catalog()
    pick = np.sort(rng.integers(0, cands.num_rows, n))
    last = cands["last_ms"].to_numpy()[pick]
    occurred = np.minimum(last + rng.integers(20 * SEC, 20 * MIN, n), prev_max_occurred)
    is_ping = rng.random(n) < 0.4
    product = commerce.random_products(rng, n, None)
    page = cat.product_page0 + product
    loaded = np.minimum(floor + 1 + rng.integers(0, max(as_of - floor, 2), n), as_of)
    order = np.lexsort((pick, loaded))
    pick, occurred, is_ping, product, page, loaded = (
        x[order] for x in (pick, occurred, is_ping, product, page, loaded)
    )
    idx = pa.array(pick)
    null_str = lookup(strings(["-"]), np.zeros(n, dtype=np.int32), np.zeros(n, dtype=bool))
    cols = {
        "event_id": uuid_ids(np.arange(n, dtype=np.int64), id_salt),
        "anonymous_id": cands["anonymous_id"].take(idx),
        "user_id": cands["user_id"].take(idx),
        "session_id": cands["session_id"].take(idx),
        "event_type": lookup(strings(EVENT_TYPES), np.where(is_ping, 1, 0)),
        "page_type": lookup(strings(PAGE_TYPES), np.full(n, PT["product"])),
        "page_url": lookup(cat.page_url, page),
        "product_id": cat.product_id.take(pa.array(product)),
        "product_category": lookup(category_names(), cat.product_category[product]),
        "engaged_seconds": pa.array(rng.integers(5, 31, n).astype(np.int32), mask=~is_ping),
        "search_term": null_str,
        "scroll_depth_percent": pa.array(rng.integers(20, 95, n).astype(np.int32), mask=~is_ping),
    }
    for a in population.DEVICE_ATTRS:
        cols[a] = cands[a].take(idx)
    for a in ("referrer", "utm_source", "utm_medium", "utm_campaign"):
        cols[a] = null_str
    cols["occurred_at"] = timestamps(occurred * 1000)
    cols["loaded_at"] = timestamps(loaded * 1000)
    return pa.table(cols)


def _latest_customers(
    con: duckdb.DuckDBPyConnection, schema: str, user_ids: pa.Array
) -> tuple[pa.Table, np.ndarray]:
    """Latest CRM version of each given user (rows aligned to `user_ids`; missing dropped)."""
    con.register(
        "__gen_users", pa.table({"pos": pa.array(np.arange(len(user_ids))), "uid": user_ids})
    )
    try:
        cols = ", ".join(f"c.{quote(c)}" for c, _ in TABLES["customers"])
        t = con.sql(
            f"""
            SELECT u.pos, {cols}
            FROM __gen_users u
            JOIN {quote(schema)}.customers c ON c.user_id = u.uid
            QUALIFY row_number() OVER (PARTITION BY u.pos ORDER BY c.updated_at DESC,
                                       c.deleted_at DESC NULLS LAST) = 1
            ORDER BY u.pos
            """
        ).to_arrow_table()
    finally:
        con.unregister("__gen_users")
    pos = t["pos"].to_numpy()
    return t.drop(["pos"]), pos


def generate(config: GenerationConfig) -> GenerationSummary:
    """Generate (or append) demo data into `config.schema` of the DuckDB file."""
    config.validate()
    started = time.perf_counter()
    as_of = to_ms(config.as_of)
    db_path = Path(config.db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET enable_progress_bar = false")
        writer = Writer(con, config.schema, config.append)
        state = None
        if config.append:
            state = read_state(con, config.schema)
            if as_of <= state.max_any:
                latest = EPOCH + timedelta(milliseconds=state.max_any)
                raise AppendError(
                    f"--as-of {config.as_of.isoformat()} must be later than the existing data "
                    f"(latest timestamp {latest.isoformat()})"
                )
        writer.open()
        try:
            _produce(con, writer, config, as_of, state)
            writer.publish()
        except BaseException:
            writer.discard()
            raise
        totals = writer.total_rows()
        return GenerationSummary(
            db_path=db_path,
            schema=config.schema,
            as_of=config.as_of,
            append=config.append,
            rows_written=dict(writer.rows),
            rows_total=totals,
            elapsed_seconds=time.perf_counter() - started,
        )
    finally:
        con.close()


def _produce(
    con: duckdb.DuckDBPyConnection,
    writer: Writer,
    config: GenerationConfig,
    as_of: int,
    state: ExistingState | None,
) -> None:
    seed = config.seed
    if state is None:
        slice_key = f"base:{as_of}:{config.days}"
        t0, t1, floor = as_of - config.days * DAY, as_of, None
        pool = None
        existing_users = None
    else:
        slice_key = f"append:{state.max_loaded}:{state.max_occurred}:{as_of}"
        t0, t1, floor = state.max_occurred + 1, as_of, state.max_loaded
        pool = _returning_pool(con, config.schema)
        existing_users = _existing_people(con, config.schema)
        pool = pool.take(pa.array(stream(seed, slice_key, "pool").permutation(pool.num_rows)))
    id_salt = salt(seed, slice_key)
    target = config.events
    produced = 0
    pool_next = 0

    if state is not None:
        n_late = round(LATE_APPEND_SHARE * target)
        cands = _late_candidates(con, config.schema, state.max_occurred)
        late = _late_events(
            stream(seed, slice_key, "late"),
            cands,
            n_late,
            state.max_occurred,
            floor,
            as_of,
            salt(seed, slice_key, "late"),
        )
        if late.num_rows:
            writer.write("events", late)
            produced += late.num_rows

    campaigns = email.campaigns_between(t0, t1)
    ratio = 24.0
    serial = dev_off = person_off = order_off = mail_off = 0
    batch = 0
    while produced < target:
        remaining = target - produced
        if batch > 0 and remaining <= max(0.004 * target, 5):
            break
        rng = stream(seed, slice_key, batch)
        n_dev = int(min(MAX_BATCH_DEVICES, max(10, remaining / ratio * 1.1 + 5)))
        ret = None
        if pool is not None and pool_next < pool.num_rows:
            n_ret = min(int(n_dev * RETURNING_SHARE), pool.num_rows - pool_next)
            ret = population.returning_population(
                rng, pool.slice(pool_next, n_ret), id_salt, person_off
            )
            pool_next += n_ret
        pop = population.new_population(
            rng, n_dev, id_salt, dev_off, person_off + (ret.n_persons if ret else 0)
        )
        if existing_users is not None and len(existing_users):
            _reuse_known_people(rng, pop, existing_users)
        if ret is not None:
            pop = population.concat(ret, pop)
        dev_off += n_dev
        person_off += pop.n_persons

        plan = commerce.plan_orders(rng, pop, t0, t1, with_history=state is None)
        forced_dev = pop.person_device[plan.window_person]
        frame = clickstream.build_events(
            rng, pop, t0, t1, forced_dev, plan.window_time, floor, serial
        )
        serial += max(len(frame), len(frame.session_serial)) + 1
        per_dev = np.bincount(frame.device, minlength=pop.n_devices)
        keep_dev = np.ones(pop.n_devices, dtype=bool)
        if produced + len(frame) > target:
            k = int(np.searchsorted(np.cumsum(per_dev), remaining, side="right"))
            keep_dev[k:] = False
            frame = frame.select(keep_dev[frame.device])
        active_dev = int(((per_dev > 0) & keep_dev).sum())
        if active_dev:
            ratio = 0.5 * ratio + 0.5 * len(frame) / max(1, int(keep_dev.sum()))
        person_kept = keep_dev[pop.person_device]

        events_tbl = clickstream.to_arrow(frame, pop, id_salt)
        writer.write("events", events_tbl)
        produced += len(frame)

        purchases = clickstream.purchases_of(frame)
        orders = commerce.build_orders(
            rng, pop, person_kept, purchases, plan, as_of, floor, id_salt ^ 0x0D, order_off
        )
        order_off += orders.orders.num_rows
        writer.write("orders", orders.orders)
        writer.write("order_items", orders.items)

        # first time each person was seen identified → sign-up time
        never = np.iinfo(np.int64).max
        first_ident = np.full(pop.n_persons, never, dtype=np.int64)
        ident = frame.person >= 0
        np.minimum.at(first_ident, frame.person[ident], frame.occurred[ident])
        first_seen = np.minimum(first_ident, orders.first_order_time)
        if state is None:
            fallback = t0 - rng.integers(DAY, 600 * DAY, pop.n_persons)
        else:
            fallback = rng.integers(t0, t1, pop.n_persons)
        signup = np.where(
            first_seen < never, first_seen - rng.integers(MIN, 3 * DAY, pop.n_persons), fallback
        )
        signup = np.maximum(signup, as_of - 1000 * DAY)
        if state is not None:  # people new in this slice sign up inside it
            signup = np.clip(signup, t0, np.maximum(first_seen, t0))

        new = person_kept & pop.person_is_new
        old = person_kept & ~pop.person_is_new
        eligible = new & pop.email_consent
        latest = None
        if old.any():
            latest, pos = _latest_customers(con, config.schema, pop.user_id.filter(pa.array(old)))
            old_idx = np.flatnonzero(old)[pos]
            cons = np.asarray(latest["email_consent"].to_numpy(zero_copy_only=False), dtype=bool)
            alive = np.asarray(latest["deleted_at"].is_null().to_numpy(zero_copy_only=False))
            eligible[old_idx] = cons & alive
            signup[old_idx] = t0 - DAY
        trig_person, trig_time = clickstream.abandoned_carts(frame)
        send = rng.random(len(trig_person)) < 0.6
        trig_person = trig_person[send]
        trig_time = trig_time[send] + rng.integers(60 * MIN, 180 * MIN, len(trig_person))
        mail = email.build_email_events(
            rng,
            pop.user_id,
            eligible,
            signup,
            campaigns,
            as_of,
            floor,
            id_salt ^ 0xE3,
            mail_off,
            trig_person,
            trig_time,
        )
        mail_off += mail.table.num_rows
        writer.write("email_events", mail.table)

        new_idx = np.flatnonzero(new)
        customers = crm.build_customers(
            rng,
            pop.user_id.take(pa.array(new_idx)),
            pop.person_place[new_idx],
            pop.email_consent[new_idx],
            pop.ads_consent[new_idx],
            signup[new_idx],
            mail.unsubscribed_at[new_idx],
            as_of,
        )
        if floor is not None and customers.num_rows:
            customers = _floor_updates(customers, floor)
        writer.write("customers", customers)
        if latest is not None and latest.num_rows:
            updates = crm.update_versions(
                rng, latest, max(t0, floor + 1), t1, mail.unsubscribed_at[old_idx]
            )
            writer.write("customers", updates)
        batch += 1

    if state is None:  # survey answers (audiences/generator/surveys.py), before the campaign
        surveys.plant(
            con,
            writer,
            stream(seed, slice_key, "survey"),
            as_of,
            salt(seed, slice_key, "survey"),
        )
        # the planted campaign effect (audiences/generator/campaigns.py)
        campaign_effect.plant(
            con,
            writer,
            stream(seed, slice_key, "campaign"),
            as_of,
            salt(seed, slice_key, "campaign"),
            config.holdout_percent,
        )


def _floor_updates(customers: pa.Table, floor: int) -> pa.Table:
    """In append mode new CRM versions land after everything loaded before."""
    upd = customers["updated_at"].cast(pa.int64()).to_numpy() // 1000
    upd = np.maximum(upd, floor + 1)
    i = customers.schema.get_field_index("updated_at")
    return customers.set_column(i, "updated_at", timestamps(upd * 1000))
