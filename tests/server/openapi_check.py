"""Validating API answers against the OpenAPI document's schemas (used by the API tests
and the end-to-end test of the CLI against a running syncer)."""

from __future__ import annotations

from typing import Any

import jsonschema


def validate(document: dict[str, Any], *, method: str, path: str, status: int, body: Any) -> None:
    """Raise unless ``body`` fits the schema documented for ``method path`` -> ``status``."""
    op = document["paths"][path][method.lower()]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    wrapper = {**schema, "components": document["components"]}
    jsonschema.Draft202012Validator(
        wrapper, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(body)
