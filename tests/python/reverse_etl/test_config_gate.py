"""syncs.yml validation, model resolution through the manifest, and the dbt test gate."""

from __future__ import annotations

import json

import pytest
import yaml
from retl_support import TABLE, write_manifest

from reverse_etl.config import load_project
from reverse_etl.core.errors import ConfigError, GateError, ManifestError
from reverse_etl.gate import check
from reverse_etl.manifest import load_manifest, resolve_model

GOOD = {
    "name": "hubspot_contacts",
    "model": TABLE,
    "destination": "hubspot",
    "mode": "mirror",
    "identity": "email",
    "list": "L",
    "mapping": {"email": "email"},
}


def _write(tmp_path, *syncs, **top):
    p = tmp_path / "syncs.yml"
    p.write_text(yaml.safe_dump({"syncs": list(syncs), **top}))
    return p


def test_repo_syncs_yml_is_valid():
    from pathlib import Path

    project = load_project(Path(__file__).resolve().parents[3] / "syncs.yml")
    s = project.file.syncs[0]
    assert (s.name, s.model, s.mode, s.identity) == (
        "hubspot_contacts",
        "aud_hubspot_contacts",
        "mirror",
        "email",
    )
    assert s.mapping["audiences_segments"] == "segments" and s.max_removal_pct == 10


def test_valid_config_and_defaults(tmp_path):
    project = load_project(_write(tmp_path, GOOD))
    s = project.file.syncs[0]
    assert (s.max_removal_pct, s.rate_limit, project.file.target) == (10.0, None, "duckdb")
    assert project.manifest_path == tmp_path / "target" / "manifest.json"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"mode": "replace"},
            "sync 'hubspot_contacts', field 'mode': Input should be 'upsert' or 'mirror'",
        ),
        ({"identity": None}, "sync 'hubspot_contacts', field 'identity'"),
        (
            {"mapping": {}},
            "sync 'hubspot_contacts', field 'mapping': Value error, map at least one",
        ),
        ({"list": None}, "mode 'mirror' needs a 'list'"),
        (
            {"max_removal_pct": 150},
            "field 'max_removal_pct': Input should be less than or equal to 100",
        ),
        ({"colour": "red"}, "sync 'hubspot_contacts', field 'colour': is not a known field"),
        ({"destination": "myspace"}, "field 'destination'"),
        (
            {"mapping": {"email": "e mail"}},
            "'email' maps to 'e mail', which is not a plain column name",
        ),
        (
            {"utm_campaign": "aud_{segment_key}_{segment_key}"},
            "field 'utm_campaign': Value error, must be letters, digits, '_', '-' or '.', "
            "with at most one '{segment_key}'",
        ),
        ({"utm_campaign": "aud {segment_key}"}, "field 'utm_campaign': Value error, must be"),
        ({"utm_campaign": "aud_{sync}"}, "field 'utm_campaign': Value error, must be"),
        (
            {"utm_campaign": "{segment_key}"},
            "field 'utm_campaign': Value error, needs text besides '{segment_key}'",
        ),
    ],
)
def test_invalid_config_names_sync_and_field(tmp_path, change, expected):
    sync = {**GOOD, **change}
    sync = {k: v for k, v in sync.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        load_project(_write(tmp_path, sync))
    assert expected in str(err.value)


def test_missing_required_field_and_duplicates(tmp_path):
    sync = {k: v for k, v in GOOD.items() if k != "model"}
    with pytest.raises(ConfigError, match="sync 'hubspot_contacts', field 'model': is required"):
        load_project(_write(tmp_path, sync))
    with pytest.raises(ConfigError, match="declared twice"):
        load_project(_write(tmp_path, GOOD, GOOD))
    with pytest.raises(ConfigError, match="file not found"):
        load_project(tmp_path / "nope.yml")
    project = load_project(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="no sync named 'other'; known syncs: hubspot_contacts"):
        project.select(["other"])


def test_utm_campaign_conventions_parse_and_must_not_overlap(tmp_path):
    meta = {**GOOD, "name": "meta_a", "utm_campaign": "meta_{segment_key}_nov"}
    fixed = {**GOOD, "name": "winback", "utm_campaign": "winback_2026"}
    one_segment = {
        **fixed,
        "name": "winback_one",
        "utm_campaign": "wb",
        "where": {"segment_key": ["lapsed"]},
    }
    project = load_project(_write(tmp_path, GOOD, meta, fixed, one_segment))
    namings = {s.name: s.campaign_naming() for s in project.file.syncs}
    assert namings["hubspot_contacts"] is None
    n = namings["meta_a"]
    assert (n.prefix, n.suffix, n.has_segment_key, n.segment_key) == ("meta_", "_nov", True, None)
    assert n.matches("meta_high_value_nov") and not n.matches("meta__nov")
    n = namings["winback"]
    assert (n.prefix, n.suffix, n.has_segment_key, n.segment_key) == (
        "winback_2026",
        "",
        False,
        None,
    )
    assert namings["winback_one"].segment_key == "lapsed"

    clash = {**GOOD, "name": "meta_b", "utm_campaign": "meta_{segment_key}"}
    with pytest.raises(ConfigError) as err:
        load_project(_write(tmp_path, meta, clash))
    assert str(err.value).endswith(
        "syncs 'meta_a' and 'meta_b': their utm_campaign conventions ('meta_{segment_key}_nov', "
        "'meta_{segment_key}') can name the same campaign, so a visit could not be attributed "
        "to one audience; give each sync its own, e.g. 'aud_{segment_key}_meta_b'"
    )
    named = {**GOOD, "name": "meta_c", "utm_campaign": "meta_x_nov"}  # a name meta_a can make
    with pytest.raises(ConfigError, match="'meta_a' and 'meta_c'"):
        load_project(_write(tmp_path, meta, named))
    apart = {**GOOD, "name": "google_a", "utm_campaign": "google_{segment_key}_nov"}
    load_project(_write(tmp_path, meta, apart))


def test_manifest_resolution(tmp_path):
    write_manifest(tmp_path / "target", schema="marts")
    mf = load_manifest(tmp_path / "target" / "manifest.json")
    rel = resolve_model(mf, TABLE)
    assert (rel.schema, rel.identifier, rel.unique_id) == (
        "marts",
        TABLE,
        f"model.audiences.{TABLE}",
    )
    with pytest.raises(ManifestError, match="model 'aud_nope' is not in"):
        resolve_model(mf, "aud_nope")
    with pytest.raises(ManifestError, match="run `dbt build`"):
        load_manifest(tmp_path / "missing.json")


def test_gate(tmp_path):
    uid = f"model.audiences.{TABLE}"
    write_manifest(tmp_path / "ok")
    mf = load_manifest(tmp_path / "ok" / "manifest.json")
    assert check(mf, tmp_path / "ok" / "run_results.json", uid, "s").ok
    write_manifest(tmp_path / "bad", test_status="fail")
    with pytest.raises(GateError) as err:
        check(mf, tmp_path / "bad" / "run_results.json", uid, "s")
    assert "test not_null_aud_hubspot_contacts_email fail (3 failing rows)" in str(err.value)
    assert "--ignore-tests" in str(err.value)
    write_manifest(tmp_path / "err", model_status="error")
    with pytest.raises(GateError, match="model error: boom"):
        check(mf, tmp_path / "err" / "run_results.json", uid, "s")
    write_manifest(tmp_path / "warn", test_status="warn")
    assert check(mf, tmp_path / "warn" / "run_results.json", uid, "s").ok
    with pytest.raises(GateError, match=r"run_results\.json not found"):
        check(mf, tmp_path / "none" / "run_results.json", uid, "s")
    (tmp_path / "other.json").write_text(json.dumps({"results": []}))
    res = check(mf, tmp_path / "other.json", uid, "s")
    assert res.ok and "not part of the last dbt run" in res.notes[0]


def test_engine_refuses_model_with_failing_test_unless_ignored(make_env):
    env = make_env(n=30)
    write_manifest(env.root / "target", test_status="fail")
    res = env.run()
    assert res.status == "refused" and "not clean" in res.error
    assert env.emulator.api_calls == 0
    res = env.run(ignore_tests=True)
    assert res.status == "success" and res.counts["added"] == 30


def test_every_sync_options_are_validated_when_the_file_is_loaded(tmp_path):
    """Options are checked against the destination's model from the registry for every
    sync at load time, not only when that sync runs."""
    braze = {
        "name": "braze_users",
        "model": TABLE,
        "destination": "braze",
        "identity": "user_id",
        "mapping": {"email": "email"},
        "options": {"events": {"on_unknown": "maybe"}, "object_limit": 500},
    }
    with pytest.raises(ConfigError) as err:
        load_project(_write(tmp_path, GOOD, braze))
    text = str(err.value)
    assert "sync 'braze_users', field 'options'" in text
    assert "object_limit: Input should be less than or equal to 75" in text
    assert "events.on_unknown: Input should be 'skip' or 'resend'" in text
    with pytest.raises(ConfigError) as err:
        load_project(_write(tmp_path, {**GOOD, "destination": "myspace"}))
    assert "unknown destination 'myspace'; known destinations: 'hubspot', 'braze'" in str(err.value)
