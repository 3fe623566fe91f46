"""The command-line start-up ``python -m api`` and ``python -m collector`` share
(``analytics_settings.command_line.server_settings``): overrides, invalid settings, missing keys."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from analytics_settings.command_line import server_settings
from tests.api.conftest import REPO_ROOT


def no_logging_setup(level: str) -> None:
    """pytest's caplog already captures; the level must still reach the configuration."""
    assert level == "INFO"


@pytest.mark.parametrize(("server", "keys_setting", "keys"), [
    ("api", "api_keys", "dashboard=k-dash-7f3a"), ("collector", "write_keys", "web=wk-1")])
def test_host_and_port_override_the_settings_and_keys_silence_the_warning(
        server: str, keys_setting: str, keys: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.setenv(f"ANALYTICS_{keys_setting.upper()}", keys)
    monkeypatch.setenv(f"ANALYTICS_{server.upper()}_PORT", "8123")
    with caplog.at_level(logging.WARNING):
        settings = server_settings(server, "test", keys_setting, ["--host", "127.0.0.2", "--port", "9345"],
                                   no_logging_setup)
    assert (getattr(settings, f"{server}_host"), getattr(settings, f"{server}_port")) == ("127.0.0.2", 9345)
    assert caplog.records == []
    settings = server_settings(server, "test", keys_setting, [], no_logging_setup)
    assert getattr(settings, f"{server}_port") == 8123  # without --port, the environment's


@pytest.mark.parametrize(("server", "keys_setting"), [("api", "api_keys"), ("collector", "write_keys")])
def test_without_keys_a_warning_says_every_request_gets_401(
        server: str, keys_setting: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.delenv(f"ANALYTICS_{keys_setting.upper()}", raising=False)
    with caplog.at_level(logging.WARNING):
        server_settings(server, "test", keys_setting, [], no_logging_setup)
    assert [(record.name, record.getMessage()) for record in caplog.records] == [
        (server, (f"no {keys_setting.replace('_', ' ')} configured: every request that needs a key will get 401; "
                  f"set ANALYTICS_{keys_setting.upper()}=name=key,…"))]


@pytest.mark.parametrize("server", ["api", "collector"])
def test_invalid_settings_exit_2_naming_the_setting(server: str):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANALYTICS_")}
    env[f"ANALYTICS_{server.upper()}_PORT"] = "eighty"
    done = subprocess.run([sys.executable, "-m", server], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"{server}: invalid settings:\n") and f"{server}_port" in done.stderr
