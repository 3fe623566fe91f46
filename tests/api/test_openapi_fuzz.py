"""A schemathesis run of the API's own OpenAPI document against a real API process with champions trained
on a real served warehouse: never a 5xx, whether the request is authenticated or not."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from analytics_settings import load_settings
from api.app import create_app
from tests.api.conftest import AUTH, ApiServer

# The ML dataset's warehouse (Spark and dbt, minutes) and two training runs come first.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


# The document the server serves at /openapi.json (the app's own, built here without serving it).
schema = schemathesis.openapi.from_dict(create_app(load_settings()).openapi())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, served_api: ApiServer):
    for headers in (AUTH, None):  # authenticated requests reach the routes; the others must 401
        response = case.call(base_url=served_api.url, headers=headers, timeout=120)
        assert response.status_code < 500, response.text
