"""The kernel app's errors over HTTP in one shape, ``ErrorMessage`` (``{"op": "error", "code",
"message", ...}``), FastAPI's own included: a body that does not validate (422), an unknown route
(404), a method not allowed (405), a missing token (403). The OpenAPI document says so too: its
422 answers are ``ErrorMessage`` rather than FastAPI's ``HTTPValidationError``, and every route
that takes input documents its 400 (a body that is not JSON, a value the session refuses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from transpector.kernel.openapi_tags import require_union_tags
from transpector.protocol import messages as m

HTTP_CODES: dict[int, m.ErrorCode] = {403: "forbidden", 404: "not_found", 413: "too_large"}
_REF = "#/components/schemas/ErrorMessage"


def error_response(
    status: int, code: m.ErrorCode, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = m.error_frame(code, message)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def validation_message(errors: Sequence[Any]) -> str:
    """The first of FastAPI's validation errors as one sentence: where, then what."""
    if not errors:
        return "the request does not validate"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    text = str(first.get("msg", "invalid"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {text}{more}" if where else f"{text}{more}"


def openapi_with_one_error_shape(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorMessage"] = m.ErrorMessage.model_json_schema(ref_template=_REF)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            answers = operation.get("responses", {})
            if "400" in answers:  # a route that says it may refuse: the one error shape
                answers["400"] = _error_answer(answers["400"].get("description", "Refused"))
            if "422" in answers:
                answers["422"] = _error_answer("Invalid input")
                answers["400"] = _error_answer("Bad input (not JSON, or refused)")
    require_union_tags(schema)
    app.openapi_schema = schema
    return schema


def _error_answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF}}}}
