"""A fake OpenAI-compatible server on loopback: `POST /v1/chat/completions` as the API documents
it, answering from a script (a reply, NON_TROUVE, an HTTP error, or a delay beyond the client's
timeout). Every request is kept for the tests to read."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import ThreadedServer


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[tuple[str, Any]] = deque()  # ("reply", text) | ("error", status) | ("sleep", s)
        self.default = "Réponse de test [1]."
        self.server: ThreadedServer | None = None

    def app(self) -> Starlette:
        async def completions(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != "Bearer sk-test":
                return JSONResponse({"error": {"message": "Invalid API key", "type": "invalid_request_error"}},
                                    status_code=401)
            body = await request.json()
            self.requests.append(body)
            kind, value = self.script.popleft() if self.script else ("reply", self.default)
            if kind == "error":
                return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=value)
            if kind == "sleep":
                await asyncio.sleep(value)
                value = self.default
            return JSONResponse({
                "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": value}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    def start(self) -> str:
        self.server = ThreadedServer(self.app(), lifespan="off", name="fake-llm").start()
        return f"{self.server.base}/v1"

    def stop(self) -> None:
        if self.server:
            self.server.stop()
