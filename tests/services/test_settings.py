"""Settings: the only environment reader (services/settings.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from services.bus import kafka_security
from services.settings import Settings, load_settings, parse_bus
from streamcal.errors import ConfigError


def test_defaults_then_environment_then_overrides():
    """1. STREAMCAL_* variables are typed; command-line overrides win; None overrides are skipped."""
    env = {"STREAMCAL_PRODUCTS_DIR": "/data/products", "STREAMCAL_CONCURRENCY": "3",
           "STREAMCAL_FORCE_POLLING": "true", "STREAMCAL_METRICS_PORT": "9100", "HOME": "/root"}
    s = load_settings({"concurrency": 5, "refs_dir": None}, environ=env)
    assert s.products_dir == Path("/data/products") and s.concurrency == 5 and s.force_polling is True
    assert s.metrics_port == 9100 and s.refs_dir is None and s.bus == "memory"


@pytest.mark.parametrize(("env", "match"), [
    ({"STREAMCAL_CONCURENCY": "3"}, "unknown setting STREAMCAL_CONCURENCY"),
    ({"STREAMCAL_CONCURRENCY": "three"}, "is not a valid int"),
    ({"STREAMCAL_FORCE_POLLING": "maybe"}, "is not a valid bool"),
    ({"STREAMCAL_BUS": "redis://x"}, "expected 'memory' or 'kafka://"),
    ({"STREAMCAL_CONCURRENCY": "0"}, "must be positive"),
])
def test_a_typo_or_a_bad_value_is_a_startup_error(env, match):
    """2. Extra keys are forbidden and values are validated: ConfigError at startup, never later."""
    with pytest.raises(ConfigError, match=match):
        load_settings(environ=env)


def test_bus_urls_and_required_folders():
    """3. Bus URLs parse; a missing folder names the flag and the variable."""
    assert str(parse_bus("kafka://a:9092,b:9093")) == "kafka://a:9092,b:9093"
    assert parse_bus("memory").kind == "memory"
    with pytest.raises(ConfigError):
        parse_bus("kafka://nohost")
    with pytest.raises(ConfigError, match="--refs or set STREAMCAL_REFS_DIR"):
        Settings().require("refs_dir")


@pytest.mark.parametrize(("text", "expected"), [("auto", None), ("true", True), ("FALSE", False), ("1", True),
                                                ("no", False)])
def test_kafka_idempotence_is_auto_by_default_or_forced(text, expected):
    assert load_settings(environ={}).idempotence is None
    assert load_settings(environ={"STREAMCAL_KAFKA_IDEMPOTENCE": text}).idempotence is expected
    with pytest.raises(ConfigError, match="expected auto, true or false"):
        load_settings(environ={"STREAMCAL_KAFKA_IDEMPOTENCE": "maybe"})


def test_kafka_tls_and_sasl_settings_reach_every_client():
    environ = {"STREAMCAL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "STREAMCAL_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
               "STREAMCAL_KAFKA_SASL_USERNAME": "calib", "STREAMCAL_KAFKA_SASL_PASSWORD": "s3cret"}
    options = kafka_security(load_settings(environ=environ)).client_options()
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("calib", "s3cret")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert kafka_security(load_settings(environ={})).client_options() == {"security_protocol": "PLAINTEXT"}
    with pytest.raises(ConfigError, match="needs kafka_sasl_username and kafka_sasl_password"):
        load_settings(environ={**environ, "STREAMCAL_KAFKA_SASL_PASSWORD": ""})
    with pytest.raises(ConfigError, match="SASL_SSL needs one of PLAIN"):
        load_settings(environ={**environ, "STREAMCAL_KAFKA_SASL_MECHANISM": "GSSAPI"})
    with pytest.raises(ConfigError, match="kafka_security_protocol='TLS'"):
        load_settings(environ={"STREAMCAL_KAFKA_SECURITY_PROTOCOL": "TLS"})
