from __future__ import annotations

from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from whisper_api.api.openapi.document import openapi_document
from whisper_api.api.routes import ROUTES


def test_the_document_is_valid_openapi() -> None:
    validate(openapi_document())


def test_every_route_and_method_is_documented_and_nothing_else() -> None:
    routed = {
        (route.path, method.lower())
        for route in ROUTES
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method) for path, methods in openapi_document()["paths"].items() for method in methods
    }
    assert documented == routed


def test_served_with_a_page_that_needs_no_cdn(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["openapi"] == "3.1.0"
    page = client.get("/docs").text
    assert "openapi.json" in page
    assert "http://" not in page and "https://" not in page
