"""Settings: the only environment reader (services/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
