"""A schemathesis run of the collector's own OpenAPI document against a real collector: never a 5xx."""

from __future__ import annotations

import base64

import schemathesis
from hypothesis import HealthCheck, settings

from collector.openapi import openapi_document

schema = schemathesis.openapi.from_dict(openapi_document())
AUTHENTICATED = {"Authorization": "Basic " + base64.b64encode(b"wk_test:").decode()}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, server):
    for headers in (AUTHENTICATED, None):  # authenticated requests reach the parser; the others must 401
        response = case.call(base_url=server.url, headers=headers)
        assert response.status_code < 500, response.text
