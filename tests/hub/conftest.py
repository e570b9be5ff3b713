"""Fixtures of the Hub tests: a local stand-in Hub (:mod:`tests.hub.fake_hub`) that
huggingface_hub talks to, a guard refusing every connection but loopback, and a private copy
of the session's trained run."""

from __future__ import annotations

import ipaddress
import shutil
import socket
from pathlib import Path

import pytest

from tests.hub.fake_hub import FakeHub


@pytest.fixture
def offline_guard(monkeypatch):
    """Refuse connections to anything but loopback; returns the refused addresses."""
    refused = []
    connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple):
            try:
                loopback = ipaddress.ip_address(address[0]).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                refused.append(address)
                raise ConnectionRefusedError(f"tests/hub: no connection to {address} allowed")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return refused


@pytest.fixture
def fake_hub(monkeypatch, offline_guard, tmp_path):
    """A running FakeHub; huggingface_hub is allowed online, its endpoint and file-URL template
    set to it (as ``HF_ENDPOINT`` at import would) and its cache a fresh folder
    (``hub.cache``). The server is stopped after the test."""
    from huggingface_hub import constants

    hub = FakeHub().start()
    # conftest.py sets HF_HUB_OFFLINE=1; the library reads it (and HF_ENDPOINT) at import time.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    hub.cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub.cache))
    # No agent-registry lookup for the user agent (it would go to constants.ENDPOINT).
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    yield hub
    hub.stop()
    assert offline_guard == []


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A private copy of the trained run folder (the session fixture stays untouched)."""
    config, _ = trained_run
    return Path(shutil.copytree(config.run_dir, tmp_path / "tiny"))
