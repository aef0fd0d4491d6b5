"""The published schema documents every operation's errors in Berth's error shape, states the
constraints the API enforces, and 405s name every method of the path."""

from __future__ import annotations

from typing import Any

import pytest
from berth_api.app import create_app
from berth_api.errors import allowed_methods
from berth_api.openapi import ERROR_REF, document_errors, error_statuses


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    spec: dict[str, Any] = create_app(None).openapi()  # type: ignore[arg-type]
    return spec


def test_error_statuses_follow_what_an_operation_does() -> None:
    assert error_statuses("get", "/api/apps", has_body=False) == [401, 403, 422, 429, 503]
    assert error_statuses("get", "/api/apps/{ref}", has_body=False) == [401, 403, 404, 422, 429, 503]
    assert error_statuses("post", "/api/apps", has_body=True) == [401, 403, 409, 413, 422, 429, 503]
    assert error_statuses("get", "/api/audit", has_body=False, parameters=frozenset({"appId"})) == [
        401,
        403,
        404,
        422,
        429,
        503,
    ]
    assert 409 in error_statuses("get", "/api/apps/{ref}/env", has_body=False)  # ?reveal=true of a broken value


def test_document_errors_adds_berths_body_and_replaces_fastapis() -> None:
    base = {
        "paths": {
            "/api/things/{id}": {
                "get": {
                    "responses": {
                        "200": {"description": "ok"},
                        "422": {"content": {"application/json": {"schema": {"$ref": "#/x/HTTPValidationError"}}}},
                    }
                }
            },
            "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
        "components": {"schemas": {"HTTPValidationError": {}, "ValidationError": {}}},
    }
    out = document_errors(base)
    responses = out["paths"]["/api/things/{id}"]["get"]["responses"]
    assert sorted(responses) == ["200", "401", "403", "404", "422", "429", "503"]
    assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert "Retry-After" in responses["429"]["headers"]
    assert out["paths"]["/healthz"]["get"]["responses"] == {"200": {"description": "ok"}}
    assert set(out["components"]["schemas"]) == {"Error", "FieldError"}
    assert "401" not in base["paths"]["/api/things/{id}"]["get"]["responses"]  # the input is left as it was


def test_every_api_operation_documents_its_errors(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status in ("401", "403", "422", "429", "503"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": ERROR_REF}, (method, path, status)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
    assert "HTTPValidationError" not in str(schema)


def test_constraints_enforced_by_hand_are_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    name = components["CreateApp"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 40) and name["pattern"].startswith("^[a-z0-9]")
    webhooks = {p["name"]: p["schema"] for p in schema["paths"]["/api/webhooks"]["get"]["parameters"]}
    assert (webhooks["deliveries"]["minimum"], webhooks["deliveries"]["maximum"]) == (0, 100)
    audit = {p["name"]: p["schema"] for p in schema["paths"]["/api/audit"]["get"]["parameters"]}
    assert (audit["limit"]["minimum"], audit["limit"]["maximum"]) == (1, 1000)
    platform = {p["name"]: p["schema"] for p in schema["paths"]["/api/platform/logs"]["get"]["parameters"]}
    assert "api" in platform["service"]["enum"]


def test_405_lists_every_method_of_the_path(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert allowed_methods(paths, "/api/apps") == ["GET", "POST"]
    assert allowed_methods(paths, "/api/apps/shop") == ["DELETE", "GET", "PATCH"]
    assert allowed_methods(paths, "/api/apps/shop/env") == ["GET", "POST"]
    assert allowed_methods(paths, "/api/no-such-thing") == []
    assert allowed_methods(paths, "/apps/shop") == ["GET"]  # the dashboard
