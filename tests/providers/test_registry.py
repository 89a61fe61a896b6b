"""Provider names, and settings that take secrets from the environment."""

from __future__ import annotations

import pytest

from runner.errors import ConfigError
from runner.providers import expand_settings, provider_class


def test_settings_expand_environment_variables() -> None:
    env = {"SMSRUN_RECEIVER_TOKEN": "s3cr3t-token-value"}
    settings = {"dlr_url": "https://hooks.example/${SMSRUN_RECEIVER_TOKEN}/kannel/dlr", "batch_size": 50,
                "nested": {"a": ["${SMSRUN_RECEIVER_TOKEN}"]}, "plain": "$NOT_EXPANDED"}
    expanded = expand_settings(settings, env)
    assert expanded["dlr_url"] == "https://hooks.example/s3cr3t-token-value/kannel/dlr"
    assert expanded["nested"] == {"a": ["s3cr3t-token-value"]}
    assert expanded["batch_size"] == 50 and expanded["plain"] == "$NOT_EXPANDED"
    assert settings["dlr_url"].startswith("https://hooks.example/${")  # the campaign's own value is untouched


def test_missing_variable_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="SMSRUN_RECEIVER_TOKEN is not set"):
        expand_settings({"url": "http://x/${SMSRUN_RECEIVER_TOKEN}"}, {})


def test_unknown_provider() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        provider_class("nope")
