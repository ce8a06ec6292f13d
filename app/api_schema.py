"""The OpenAPI document of the app, completed with what every endpoint can answer besides its own responses.

FastAPI documents 200 and its own 422 (a list of validation errors). The endpoints also answer:

* 422 with ``{"detail": "<message>"}`` when a value is well-formed but wrong (an unknown dimension, a date
  that is not ISO): so ``detail`` is documented as a list or a message;
* 400 when a JSON body cannot be parsed at all (FastAPI's own answer);
* 401 when a key is required and missing, unknown or revoked (every endpoint but ``/healthz``);
* 503 + ``Retry-After`` when the ingest queue is full or the warehouse failed (the receivers).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

_MESSAGE = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What is wrong, and what to do"}},
}
_OPEN_PATHS = frozenset({"/healthz"})


def _message_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _MESSAGE}}}


def complete_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the responses of the module docstring to ``schema`` (in place) and return it."""
    validation = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if validation is not None:
        listed = validation["properties"]["detail"]
        validation["properties"]["detail"] = {
            "title": "Detail",
            "anyOf": [listed, {"type": "string"}],
            "description": "Validation errors, or one message naming the value that is wrong",
        }
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if path not in _OPEN_PATHS:
                responses.setdefault("401", _message_response("Missing, unknown or revoked API key"))
            if "requestBody" in operation:
                responses.setdefault("400", _message_response("The body cannot be parsed"))
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached like FastAPI's), and
    answer validation errors as FastAPI does even when the refused input holds a NaN or an infinity (a JSON
    body may carry ``NaN``; FastAPI echoes the input, and JSON cannot encode it: that was a 500)."""
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_schema(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": _finite(jsonable_encoder(exc.errors()))})


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as its text ("nan", "inf"), which JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
