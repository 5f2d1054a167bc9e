"""Every error of the HTTP intake as an RFC 9457 problem document (`application/problem+json`).

`{"type", "title", "status", "detail", "instance"}` and, for invalid input, `errors`: one
`{"field", "reason"}` per problem. `detail` is one line naming the field and the reason, as
everywhere else in the product. `type` is a URN naming the kind (docs/intake.md lists them),
so a client can tell a closed ticket from an idempotency conflict, both 409.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from sla.refusals import explain

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    reason: str


class ProblemDocument(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="urn:escalator:problem:<kind> (docs/intake.md), or about:blank")
    title: str
    status: int
    detail: str = Field(description="One line: the field and the reason.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldProblem] | None = None


class Problem(Exception):
    """Raised anywhere in a request: answered as a problem document with `status`."""

    def __init__(self, status: int, kind: str, detail: str, errors: list[FieldProblem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.errors, self.headers = status, kind, detail, errors, headers


def invalid(exc: ValidationError, prefix: str = "", status: int = 422) -> Problem:
    """A pydantic error as a 422 naming each field (`prefix` is put before each field's name)."""
    errors = []
    for error in exc.errors(include_url=False):
        field, sep, reason = explain(error).partition(": ")
        if not sep:  # a whole-body rule whose message names no field
            field, reason = "body", field
        errors.append(FieldProblem(field=prefix + field, reason=reason))
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    return Problem(status, "invalid-field", detail, errors)


def document(request: Request, status: int, kind: str, detail: str, errors: list[FieldProblem] | None = None) -> dict[str, Any]:
    if kind == "invalid-field" and errors is None:  # one field, said in the detail: listed too, as for several
        field, _, reason = detail.partition(": ")
        errors = [FieldProblem(field=field, reason=reason or detail)]
    doc = ProblemDocument(type=f"urn:escalator:problem:{kind}" if kind else "about:blank", title=HTTPStatus(status).phrase,
                          status=status, detail=detail, instance=request.url.path, errors=errors)
    return doc.model_dump(exclude_none=True)


def respond(request: Request, problem: Problem) -> JSONResponse:
    return JSONResponse(document(request, problem.status, problem.kind, problem.detail, problem.errors),
                        status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers)


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return respond(request, exc)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404 (no such path) and 405 (method), as problem documents."""
    assert isinstance(exc, StarletteHTTPException)
    detail = {404: f"no such endpoint: {request.url.path} (docs/intake.md lists them; /v1/openapi.json describes them)",
              405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    kind = {404: "no-such-endpoint", 405: "method-not-allowed"}.get(exc.status_code, "")
    return respond(request, Problem(exc.status_code, kind, detail, headers=getattr(exc, "headers", None)))


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own checks of path, query and header parameters, as 422 naming the parameter."""
    errors = []
    for error in exc.errors():  # type: ignore[attr-defined]
        field, sep, reason = explain({**error, "loc": tuple(error.get("loc", ()))[1:]}).partition(": ")
        errors.append(FieldProblem(field=field, reason=reason if sep else field))
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors[:3])
    return respond(request, Problem(422, "invalid-field", detail, errors))


HANDLERS = {Problem: on_problem, StarletteHTTPException: on_http_error, RequestValidationError: on_request_validation}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDocument, "content": {MEDIA_TYPE: {}}, "description": text}
    for status, text in ((400, "Not JSON: invalid UTF-8, malformed, or nested too deep"), (401, "No key, or a wrong one"),
                         (403, "The key lacks the scope"), (413, "Body over the limit"), (415, "Not application/json"),
                         (422, "An invalid field, or refused by the ticket (the reason)"), (429, "Over the key's rate limit"),
                         (503, "Temporal or the ticket store cannot be reached"))
}
"""The problem answers every endpoint may give, for the OpenAPI document."""
