"""`escalator codec-server`: the remote codec the Temporal UI and CLI call to show encrypted payloads.

Temporal's protocol (docs.temporal.io "Codec Server"): `POST /encode` and `POST /decode`, each
taking and returning `{"payloads": [...]}` in protobuf JSON; the UI sends `X-Namespace` and,
when configured, `Authorization`. The UI calls from the browser, so its origin must be allowed
(CORS). A payload this server holds no key for is returned unchanged (and logged), so one retired
key does not blank a whole history.
"""

from __future__ import annotations

import hmac

import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from connection.codec import EncryptionCodec, UndecryptablePayload
from connection.keys import CodecKeys

log = structlog.get_logger("escalator.codec_server")
_JSON = "application/json"


def codec_app(keys: CodecKeys, cors_origins: list[str], token: str | None = None) -> FastAPI:
    """The ASGI app. `token`, when set, must arrive as `Authorization: Bearer TOKEN` (else 401)."""
    codec = EncryptionCodec(keys)
    app = FastAPI(title="escalator codec server", version="1", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["POST"], allow_credentials=True,
                       allow_headers=["Content-Type", "X-Namespace", "Authorization"])

    async def payloads(request: Request) -> Payloads:
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                log.warning("codec call refused: no or wrong bearer token", path=request.url.path,
                            namespace=request.headers.get("x-namespace"), client=request.client.host if request.client else None)
                raise HTTPException(401, "Authorization: Bearer TOKEN is missing or wrong")
        try:
            return json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as exc:
            raise HTTPException(400, f"the body is not {{\"payloads\": [...]}} in protobuf JSON: {str(exc)[:160]}") from None

    def answer(result: list) -> Response:
        return Response(json_format.MessageToJson(Payloads(payloads=result)), media_type=_JSON)

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return answer(await codec.encode((await payloads(request)).payloads))

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        result = []
        for payload in (await payloads(request)).payloads:
            try:
                result.append(codec.decode_one(payload))
            except UndecryptablePayload as exc:
                log.warning("payload left encrypted", namespace=request.headers.get("x-namespace"), reason=str(exc))
                result.append(payload)
        return answer(result)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True, "keys": list(keys.keys)}

    return app
