"""A schemathesis run of the collector's own OpenAPI document against a real collector: never a 5xx."""

from __future__ import annotations

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from collector.openapi import openapi_document
from tests.collector.conftest import start_collector

schema = schemathesis.openapi.from_dict(openapi_document())
AUTHENTICATED = {"Authorization": "Basic " + base64.b64encode(b"wk_test:").decode()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    running = start_collector(root / "data", root / "collector.log")
    yield running
    running.stop()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, server):
    for headers in (AUTHENTICATED, None):  # authenticated requests reach the parser; the others must 401
        response = case.call(base_url=server.url, headers=headers)
        assert response.status_code < 500, response.text
