"""The OpenAPI document and the API's routes agree both ways: every documented route
answers (not "no such API path"), what is not documented is 404, and the document's
schemas are valid JSON Schema. Answers of a real controller are validated against
these schemas in tests/e2e/test_cli_against_server.py."""

from __future__ import annotations

import re

import jsonschema
import pytest
import requests

from syncer.server import api, http
from tests.server.conftest import FakePort
from tests.server.openapi_check import validate

AUTH = {"Authorization": "Bearer api-token"}


def fetch(server: http.HttpServer, session: requests.Session) -> dict:
    answer = session.get(f"{server.url}/api/v1/openapi.json")  # needs no token
    assert answer.status_code == 200
    data: dict = answer.json()
    return data


def test_every_route_is_documented_and_every_documented_route_answers(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    doc = fetch(server, session)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(r.method, r.path) for r in api.ROUTES}
    for method, path in sorted(documented):
        url = server.url + "/api/v1" + path.replace("{app}", "web")
        answer = session.request(method, url, headers=AUTH, json={"stage": "prod"})
        assert answer.status_code != 404, (method, path, answer.text)
        op = doc["paths"][path][method.lower()]
        assert str(answer.status_code) in op["responses"], (method, path, answer.status_code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/apps/web/other"),
        ("POST", "/apps/web/delete"),
        ("POST", "/apps"),
        ("GET", "/apps/web/sync"),
        ("POST", "/apps/web/history"),
        ("GET", "/apps/web/history/1"),
    ],
)
def test_what_is_not_documented_does_not_exist(
    method: str, path: str, server: http.HttpServer, session: requests.Session
) -> None:
    doc = fetch(server, session)
    template = re.sub(r"^/apps/web", "/apps/{app}", path)
    assert method.lower() not in doc["paths"].get(template, {})
    answer = session.request(method, f"{server.url}/api/v1{path}", headers=AUTH)
    assert answer.status_code == 404, answer.text


def test_schemas_are_valid_json_schema_and_errors_fit_theirs(
    server: http.HttpServer, session: requests.Session
) -> None:
    doc = fetch(server, session)
    assert doc["openapi"].startswith("3.")
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    missing = session.get(f"{server.url}/api/v1/apps/nope", headers=AUTH)
    validate(doc, method="GET", path="/apps/{app}", status=404, body=missing.json())
    validate(doc, method="GET", path="/openapi.json", status=200, body=doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc, method="GET", path="/apps", status=200, body={"apps": [{"name": 1}]})
