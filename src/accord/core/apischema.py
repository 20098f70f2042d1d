"""What every operation of the JSON API shares: bounded paging, the error
body, and the error responses the OpenAPI schema documents for each operation."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

from accord.core.ijson import Count

MAX_PAGE = 1000


class Page(LimitOffsetPagination):
    """Limit and offset with bounds both databases and canonical JSON hold: an
    offset of 2^63 is a 422 naming the field, not a database error."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=MAX_PAGE)
        offset: Count = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=MAX_PAGE, **kwargs)


class ErrorOut(Schema):
    """Every error under /api/ answers this shape: `detail` is a sentence, or a
    list of the problems (validation errors name the field in `loc`)."""

    detail: str | list[Any]


WHY = {
    400: "The body is not JSON (or I-JSON), or a multipart body cannot be read.",
    401: "Not signed in.",
    403: "The signed-in user's role may not do this, or a CSRF check failed.",
    404: "No such object, or not one this user may see.",
    409: "The object changed meanwhile, or the action conflicts with its state.",
    413: "The body is too large.",
    422: "A field is missing, of the wrong type, or out of its bounds.",
    500: "The node failed; the error is logged.",
}


def error_codes(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    """The errors an operation can answer, from what it takes: a body can be
    malformed or too large, a path names an object that may be missing, and
    only a change can conflict with the object's state."""
    codes = [403, 422, 500]
    if operation.get("security"):
        codes.append(401)
    if "{" in path:
        codes.append(404)
    if method != "get":
        codes += [400, 409, 413]
    return sorted(codes)


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error responses, and the schema of their body, to every operation."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorOut"] = ErrorOut.model_json_schema()
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in error_codes(method, path, operation):
                if code not in responses and str(code) not in responses:
                    responses[str(code)] = {"description": WHY[code], "content": body}
    return schema
