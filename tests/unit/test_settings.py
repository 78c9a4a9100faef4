"""Settings are read once from the environment; bad values are one clear line."""

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.kafka.topics import topic_specs
from adapters.settings import DEFAULT_BOOTSTRAP, PG_NAME_BYTES, PREFIX_MAX, Settings, SettingsError
from adapters.sql.engine import STORES, schema_name
from services.bootstrap import SERVICES, Orderflow

LONGEST = "Run-1." + "x" * (PREFIX_MAX - 6)  # upper case and dots become schema characters


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = Settings.from_env({"ORDERFLOW_CACHE_DIR": str(tmp_path)})  # no cluster record
    assert settings.bootstrap_servers == DEFAULT_BOOTSTRAP == "127.0.0.1:9092"
    assert settings.database_url is None
    assert settings.data_dir == Path(".orderflow")
    assert settings.topic_prefix == ""
    assert settings.retention == timedelta(hours=168)
    assert not settings.is_postgres


def test_values_come_from_the_environment() -> None:
    settings = Settings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092, localhost:19094",
        "ORDERFLOW_DATABASE_URL": "postgresql://u:p@127.0.0.1/db",
        "ORDERFLOW_DATA_DIR": "/tmp/x",
        "ORDERFLOW_TOPIC_PREFIX": "run-1.",
        "ORDERFLOW_RETENTION_HOURS": "0.001",
    })
    assert settings.bootstrap_servers == "127.0.0.1:19092,localhost:19094"
    assert settings.first_broker_port == 19092
    assert settings.is_postgres
    assert settings.data_dir == Path("/tmp/x")
    assert settings.topic_prefix == "run-1."
    assert settings.retention == timedelta(seconds=3.6)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KAFKA_BOOTSTRAP_SERVERS", "nohost", "is not host:port"),
    ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:99999", "is not host:port"),
    ("ORDERFLOW_DATABASE_URL", "mysql://u@h/db", "unsupported scheme 'mysql'"),
    ("ORDERFLOW_DATABASE_URL", "just-text", "unsupported scheme"),
    ("ORDERFLOW_TOPIC_PREFIX", "bad prefix!", "ORDERFLOW_TOPIC_PREFIX"),
    ("ORDERFLOW_TOPIC_PREFIX", "x" * 65, "ORDERFLOW_TOPIC_PREFIX"),
    ("ORDERFLOW_TOPIC_PREFIX", "x" * 35, "at most 34 characters .*schema and channel names"),
    ("ORDERFLOW_RETENTION_HOURS", "0", "ORDERFLOW_RETENTION_HOURS: expected hours above 0"),
    ("ORDERFLOW_RETENTION_HOURS", "-1", "ORDERFLOW_RETENTION_HOURS: expected hours above 0"),
    ("ORDERFLOW_RETENTION_HOURS", "abc", "ORDERFLOW_RETENTION_HOURS: expected hours above 0"),
    ("ORDERFLOW_RETENTION_HOURS", "nan", "ORDERFLOW_RETENTION_HOURS"),
    ("ORDERFLOW_RETENTION_HOURS", "inf", "ORDERFLOW_RETENTION_HOURS"),
])
def test_bad_values_raise_one_line(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({name: value})
    assert "\n" not in str(raised.value)


def test_the_longest_prefix_fits_every_name_it_is_part_of() -> None:
    settings = Settings.from_env({"ORDERFLOW_TOPIC_PREFIX": LONGEST})
    schemas = [schema_name(settings, store) for store in STORES]
    channels = [f"outbox_{schema}" for schema in schemas]  # migration 0005's NOTIFY channel
    assert len(set(schemas)) == len(STORES)
    assert max(len(name.encode()) for name in schemas + channels) == PG_NAME_BYTES  # tight
    assert max(len(spec.name) for spec in topic_specs(settings.topic_prefix)) <= 249
    app = Orderflow(settings)
    assert max(len(app.group(service)) for service in SERVICES) <= 255  # String(255) columns


def test_one_character_more_is_refused_with_the_reason() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ORDERFLOW_TOPIC_PREFIX": LONGEST + "x"})
    assert str(raised.value) == (
        f"ORDERFLOW_TOPIC_PREFIX: at most {PREFIX_MAX} characters (it is part of PostgreSQL"
        f" schema and channel names, 63 bytes at most); got {PREFIX_MAX + 1}")


def test_a_schema_name_is_never_cut_short() -> None:
    with pytest.raises(AssertionError, match="schema name too long"):
        schema_name(Settings(topic_prefix=LONGEST + "x"), "orchestrator")
