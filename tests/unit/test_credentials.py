"""Kafka security settings: librdkafka's names, one principal per client, passwords that
never show, the cluster record `broker start` leaves, and one line for each bad value."""

import json
from pathlib import Path

import pytest

from adapters.credentials import (
    ADMIN,
    CredentialsError,
    KafkaSecurity,
    from_env,
    read_context,
    record_context,
    write_private,
)
from adapters.settings import Settings, SettingsError
from tests.support import run_cli

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def secured(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "ca.pem").write_text(CA)
    write_private(tmp_path / "credentials.json", json.dumps({"order": "o-pw", ADMIN: "a-pw"}))
    return {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SSL_CA_LOCATION": str(tmp_path / "ca.pem"),
            "ORDERFLOW_KAFKA_CREDENTIALS": str(tmp_path / "credentials.json"),
            "ORDERFLOW_CACHE_DIR": str(tmp_path)}


def test_each_principal_connects_with_its_own_password_in_librdkafkas_names(
        secured: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env(secured)
    order = settings.kafka("order")
    assert order.principal == "order" and order.bootstrap == "127.0.0.1:9092"
    assert order.security == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                              "ssl.ca.location": str(tmp_path / "ca.pem"),
                              "sasl.username": "order", "sasl.password": "o-pw"}
    assert settings.kafka(ADMIN).security["sasl.password"] == "a-pw"
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600


def test_a_password_never_shows_in_a_repr_or_a_childs_environment(
        secured: dict[str, str]) -> None:
    settings = Settings.from_env({**secured, "KAFKA_SASL_PASSWORD": "env-pw"})
    shown = repr(settings) + repr(settings.kafka("order")) + json.dumps(
        settings.kafka_environment()) + json.dumps(settings.kafka_security.described())
    assert "o-pw" not in shown and "a-pw" not in shown and "env-pw" not in shown
    assert settings.kafka("payment").security["sasl.password"] == "env-pw"  # one identity


def test_a_principal_without_a_password_is_one_line(secured: dict[str, str]) -> None:
    with pytest.raises(CredentialsError, match="no Kafka password for principal 'payment'"):
        Settings.from_env(secured).kafka("payment")


@pytest.mark.parametrize(("name", "value", "said"), [
    ("KAFKA_SASL_MECHANISM", "GSSAPI", "not a SASL mechanism orderflow supports"),
    ("KAFKA_SECURITY_PROTOCOL", "TLS", "is not one of PLAINTEXT"),
    ("KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.pem", "cannot read /nonexistent/ca.pem"),
])
def test_a_bad_security_setting_is_one_line_naming_its_variable(
        secured: dict[str, str], name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}: .*{said}"):
        Settings.from_env({**secured, name: value})


def test_a_ca_file_that_is_not_a_certificate_is_refused(secured: dict[str, str],
                                                        tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(SettingsError, match="is not a PEM certificate"):
        Settings.from_env({**secured, "KAFKA_SSL_CA_LOCATION": str(tmp_path / "junk.pem")})


def test_an_unreadable_ca_file_from_the_cli_is_one_line_and_exit_2(
        secured: dict[str, str], tmp_path: Path) -> None:
    done = run_cli(["topics", "create"], {**secured, "KAFKA_SSL_CA_LOCATION": str(tmp_path)})
    assert done.code == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert "KAFKA_SSL_CA_LOCATION: cannot read" in done.stderr


def test_the_recorded_cluster_is_used_only_without_kafka_bootstrap_servers(
        secured: dict[str, str], tmp_path: Path) -> None:
    recorded = {k: v for k, v in secured.items() if k != "ORDERFLOW_CACHE_DIR"}
    record_context(tmp_path, {**recorded, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9094"},
                   plain=False)
    bootstrap, security = from_env({"ORDERFLOW_CACHE_DIR": str(tmp_path)}, tmp_path)
    assert bootstrap == "127.0.0.1:9094" and security.protocol == "SASL_SSL"
    own, plain = from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, tmp_path)
    assert own == "127.0.0.1:9092" and plain == KafkaSecurity()
    record_context(tmp_path, {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, plain=True)
    assert read_context(tmp_path) == {}  # one plaintext node: nothing to remember
