"""Settings are read once from the environment; bad values are one clear line."""

from pathlib import Path

import pytest

from adapters.settings import DEFAULT_BOOTSTRAP, Settings, SettingsError


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings.bootstrap_servers == DEFAULT_BOOTSTRAP == "127.0.0.1:9092"
    assert settings.database_url is None
    assert settings.data_dir == Path(".orderflow")
    assert settings.topic_prefix == ""
    assert not settings.is_postgres


def test_values_come_from_the_environment() -> None:
    settings = Settings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092, localhost:19094",
        "ORDERFLOW_DATABASE_URL": "postgresql://u:p@127.0.0.1/db",
        "ORDERFLOW_DATA_DIR": "/tmp/x",
        "ORDERFLOW_TOPIC_PREFIX": "run-1.",
    })
    assert settings.bootstrap_servers == "127.0.0.1:19092,localhost:19094"
    assert settings.first_broker_port == 19092
    assert settings.is_postgres
    assert settings.data_dir == Path("/tmp/x")
    assert settings.topic_prefix == "run-1."


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KAFKA_BOOTSTRAP_SERVERS", "nohost", "is not host:port"),
    ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:99999", "is not host:port"),
    ("ORDERFLOW_DATABASE_URL", "mysql://u@h/db", "unsupported scheme 'mysql'"),
    ("ORDERFLOW_DATABASE_URL", "just-text", "unsupported scheme"),
    ("ORDERFLOW_TOPIC_PREFIX", "bad prefix!", "ORDERFLOW_TOPIC_PREFIX"),
    ("ORDERFLOW_TOPIC_PREFIX", "x" * 65, "ORDERFLOW_TOPIC_PREFIX"),
])
def test_bad_values_raise_one_line(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({name: value})
    assert "\n" not in str(raised.value)
