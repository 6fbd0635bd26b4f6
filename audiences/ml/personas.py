"""Personas: K-Means (or a Gaussian mixture, var persona_algorithm) over standardized
dim_users features (and the survey features of dim_user_interests when the warehouse has
survey answers: audiences/ml/survey_features.py), k chosen over [persona_k_min,
persona_k_max] by silhouette (BIC for the mixture), plus one persona for the top var
persona_top_value_percent % of customers by lifetime revenue. Fixed seeds, sorted inputs, one
BLAS thread: the same data gives the same personas."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from audiences.ml import survey_features
from audiences.ml.errors import MlError, NotEnoughDataError
from audiences.ml.persona_labels import persona_key, persona_label
from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch, require_tables
from reverse_etl.warehouse.base import Warehouse

#: dim_users columns clustered on (documented in models/marts/core/_core__dim_users.yml),
#: with how a missing value is imputed and whether counts are log-scaled first
FEATURES: tuple[tuple[str, str, bool], ...] = (
    ("sessions_30d", "zero", True),
    ("page_views_30d", "zero", True),
    ("product_views_30d", "zero", True),
    ("add_to_carts_30d", "zero", True),
    ("orders_lifetime", "zero", True),
    ("revenue_lifetime", "zero", True),
    ("average_order_value", "zero", True),  # no order: no order value
    ("days_since_last_visit", "max", False),
    ("evening_session_share", "median", False),
    ("email_open_rate_90d", "median", False),
    ("is_mobile", "zero", False),
)
TOP_VALUE_KEY = "persona_top_value"
GMM_SAMPLE = 50000


@dataclass
class Persona:
    key: str
    label: str
    size: int
    share: float
    is_top_value: bool
    means: dict[str, float]
    differences: dict[str, float]
    buyer_share: float
    top_categories: str
    top_channels: str
    top_devices: str


@dataclass
class PersonaResult:
    personas: list[Persona]
    person_ids: list[str]
    keys: list[str]
    distance: np.ndarray  # K-Means: distance to the centroid (standardized units); else NaN
    probability: np.ndarray  # mixture: membership probability; else NaN
    metrics: dict[str, float] = field(default_factory=dict)
    #: the features clustered on, in order: FEATURES, then the survey features if any
    feature_names: list[str] = field(default_factory=lambda: [f[0] for f in FEATURES])


@dataclass
class PeopleData:
    person_ids: list[str]
    raw: np.ndarray  # (people, names) imputed, not scaled
    categories: list[str | None]
    channels: list[str | None]
    devices: list[str | None]
    #: column names of raw: FEATURES, then the survey features (when there are answers)
    names: list[str] = field(default_factory=lambda: [f[0] for f in FEATURES])
    #: per column: log-scaled before standardizing, and its weight in the clustering
    log_scaled: list[bool] = field(default_factory=lambda: [f[2] for f in FEATURES])
    weights: list[float] = field(default_factory=lambda: [1.0] * len(FEATURES))


def load_people(wh: Warehouse, settings: MlSettings) -> PeopleData:
    core = settings.schema("core")
    require_tables(wh, core, ["dim_users"])
    cols = ", ".join(
        "case when primary_device_type in ('mobile', 'tablet') then 1.0 else 0.0 end"
        if name == "is_mobile"
        else f"cast({name} as double precision)"
        for name, _, _ in FEATURES
    )
    rows = fetch(
        wh,
        f"select person_id, {cols}, top_product_category_lifetime, first_touch_utm_medium, "
        f"primary_device_type from {wh.quote(core)}.{wh.quote('dim_users')}",
    )
    # sorted here, not in SQL: PostgreSQL orders text by its collation, DuckDB by code point
    rows.sort(key=lambda r: str(r[0]))
    n = len(FEATURES)
    raw = np.array(
        [[np.nan if v is None else float(v) for v in r[1 : n + 1]] for r in rows],
        dtype=np.float64,
    ).reshape(len(rows), n)
    for j, (_name, imputation, _) in enumerate(FEATURES):
        missing = np.isnan(raw[:, j])
        if not missing.any():
            continue
        present = raw[~missing, j]
        fill = 0.0
        if imputation == "median" and present.size:
            fill = float(np.median(present))
        elif imputation == "max" and present.size:
            fill = float(present.max())
        raw[missing, j] = fill
    data = PeopleData(
        person_ids=[str(r[0]) for r in rows],
        raw=np.round(raw, 6),
        categories=[r[n + 1] for r in rows],
        channels=[r[n + 2] for r in rows],
        devices=[r[n + 3] for r in rows],
    )
    survey = survey_features.load(wh, settings, data.person_ids)
    if survey is not None:
        data.raw = np.hstack([data.raw, survey.values])
        data.names += survey.names
        data.log_scaled += [False] * len(survey.names)
        data.weights += [survey_features.SURVEY_WEIGHT] * len(survey.names)
    return data


def top_value_mask(data: PeopleData, percent: float) -> np.ndarray:
    """The top ``percent`` % of customers (a completed order) by lifetime revenue; ties at
    the cut are broken by person_id (people are sorted by it)."""
    revenue = data.raw[:, [f[0] for f in FEATURES].index("revenue_lifetime")]
    customers = np.flatnonzero(revenue > 0)
    mask = np.zeros(len(data.person_ids), dtype=bool)
    take = math.ceil(len(customers) * percent / 100.0)
    if take:
        order = customers[np.lexsort((customers, -revenue[customers]))]
        mask[order[:take]] = True
    return mask


def standardize(raw: np.ndarray, log_scaled: list[bool] | None = None) -> np.ndarray:
    """Log-scale the count columns, then centre and scale every column to unit variance."""
    x = raw.copy()
    for j, log in enumerate(log_scaled or [f[2] for f in FEATURES]):
        if log:
            x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return (x - mean) / std


def _top(values: list[str | None], limit: int = 3) -> str:
    counts = Counter(v for v in values if v)
    total = sum(counts.values())
    if not total:
        return ""
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ", ".join(f"{k} ({round(100.0 * c / total)}%)" for k, c in best)


def profile(
    data: PeopleData, z: np.ndarray, members: np.ndarray, label: str, key: str, top: bool
) -> Persona:
    names = data.names
    orders = data.raw[members, names.index("orders_lifetime")]
    idx = np.flatnonzero(members)
    return Persona(
        key=key,
        label=label,
        size=int(members.sum()),
        share=round(float(members.mean()), 6),
        is_top_value=top,
        means={n: round(float(data.raw[members, j].mean()), 6) for j, n in enumerate(names)},
        differences={n: round(float(z[members, j].mean()), 6) for j, n in enumerate(names)},
        buyer_share=round(float((orders > 0).mean()), 6),
        top_categories=_top([data.categories[i] for i in idx]),
        top_channels=_top([data.channels[i] for i in idx]),
        top_devices=_top([data.devices[i] for i in idx]),
    )


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=size, replace=False)) if n > size else np.arange(n)


def cluster(
    settings: MlSettings, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """Cluster index, distance and probability per row of ``x``, and the selection metrics."""
    seed = settings.seed
    k_min, k_max = int(settings.var("persona_k_min")), int(settings.var("persona_k_max"))
    if len(x) < max(k_max * 10, 50):
        raise NotEnoughDataError(
            f"personas: {len(x)} people to cluster; need at least {max(k_max * 10, 50)} "
            "(generate more events or lower var persona_k_max)"
        )
    algorithm = str(settings.var("persona_algorithm"))
    if algorithm not in ("kmeans", "gmm"):
        raise MlError(f"var persona_algorithm={algorithm!r}: use 'kmeans' or 'gmm'")
    fit_rows = _sample(np.random.default_rng(seed), len(x), int(settings.var("persona_fit_sample")))
    sil_rows = _sample(
        np.random.default_rng(seed + 1), len(x), int(settings.var("persona_silhouette_sample"))
    )
    gmm_rows = fit_rows[_sample(np.random.default_rng(seed + 2), len(fit_rows), GMM_SAMPLE)]
    metrics: dict[str, float] = {}
    best_km: tuple[float, int, KMeans] | None = None
    best_gmm: tuple[float, int, GaussianMixture] | None = None
    with threadpool_limits(1):
        for k in range(k_min, k_max + 1):
            km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x[fit_rows])
            sil = float(silhouette_score(x[sil_rows], km.predict(x[sil_rows])))
            metrics[f"kmeans_silhouette_k{k}"] = round(sil, 6)
            if best_km is None or sil > best_km[0]:
                best_km = (sil, k, km)
            gm = GaussianMixture(
                n_components=k, covariance_type="diag", n_init=1, random_state=seed
            ).fit(x[gmm_rows])
            bic = float(gm.bic(x[gmm_rows]))
            metrics[f"gmm_bic_k{k}"] = round(bic, 3)
            if best_gmm is None or bic < best_gmm[0]:
                best_gmm = (bic, k, gm)
        assert best_km is not None and best_gmm is not None
        metrics["kmeans_k"] = float(best_km[1])
        metrics["kmeans_silhouette"] = round(best_km[0], 6)
        metrics["gmm_k"] = float(best_gmm[1])
        gmm_labels = best_gmm[2].predict(x[sil_rows])
        if len(set(gmm_labels.tolist())) > 1:
            metrics["gmm_silhouette"] = round(float(silhouette_score(x[sil_rows], gmm_labels)), 6)
        if algorithm == "kmeans":
            km = best_km[2]
            index = km.predict(x)
            distance = np.linalg.norm(x - km.cluster_centers_[index], axis=1)
            probability = np.full(len(x), np.nan)
        else:
            gm = best_gmm[2]
            proba = gm.predict_proba(x)
            index = proba.argmax(axis=1)
            probability = proba[np.arange(len(x)), index]
            distance = np.full(len(x), np.nan)
    metrics["silhouette"] = (
        metrics[f"{algorithm}_silhouette"]
        if algorithm == "kmeans"
        else (metrics.get("gmm_silhouette", 0.0))
    )
    return index, np.round(distance, 6), np.round(probability, 6), metrics


def run(wh: Warehouse, settings: MlSettings) -> PersonaResult:
    data = load_people(wh, settings)
    percent = float(settings.var("persona_top_value_percent"))
    top = top_value_mask(data, percent)
    z_all = standardize(data.raw, data.log_scaled)
    rest = np.flatnonzero(~top)
    # survey columns weigh less than behavioural ones (survey_features.SURVEY_WEIGHT); the
    # profile differences stay in standardized units
    weighted = z_all if all(w == 1.0 for w in data.weights) else z_all * np.array(data.weights)
    index, distance, probability, metrics = cluster(settings, weighted[rest])
    n = len(data.person_ids)
    keys = [TOP_VALUE_KEY] * n
    dist = np.full(n, np.nan)
    prob = np.full(n, np.nan)
    dist[rest], prob[rest] = distance, probability
    personas: list[Persona] = []
    taken = {TOP_VALUE_KEY}
    # clusters by size (largest first), then by index: the key order does not depend on
    # the arbitrary cluster numbering beyond that
    sizes = Counter(index.tolist())
    for c in sorted(sizes, key=lambda c: (-sizes[c], c)):
        members = np.zeros(n, dtype=bool)
        members[rest[index == c]] = True
        draft = profile(data, z_all, members, "", "", False)
        label = persona_label(draft.differences, draft.buyer_share)
        key = persona_key(label, taken)
        draft.label, draft.key = label, key
        personas.append(draft)
        for i in np.flatnonzero(members):
            keys[i] = key
    if top.any():
        personas.append(
            profile(
                data,
                z_all,
                top,
                f"top {percent:g}% lifetime value customer",
                TOP_VALUE_KEY,
                True,
            )
        )
    metrics["personas"] = float(len(personas))
    for p in personas:
        metrics[f"size_{p.key}"] = float(p.size)
    return PersonaResult(personas, data.person_ids, keys, dist, prob, metrics, list(data.names))
