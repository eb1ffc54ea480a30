"""What every API request passes before a handler sees it: the host, the key, the rate limit, and a body read with a
byte limit and a time limit.

It is plain ASGI in front of the FastAPI app, so a refusal costs no body read and no JSON parse: an
unauthenticated 7 MB batch is a 401 after its headers, a chunked body is refused (413) at the first byte past the
limit, and a client that stops sending mid-body gets 408 instead of holding a connection.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from .config import ConfigError

logger = logging.getLogger("summarizer")

__all__ = ["api_keys", "RateLimiter", "RequestGuard", "bad_string", "LOCAL_HOSTS", "header_timeout_protocol"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Host names a keyless server on this machine answers to: anything else is refused (DNS rebinding).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def api_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """Keys from ``SUMMARIZER_API_KEYS``: comma-separated, or a file with one key per line (``#`` comments).

    Raises:
        ConfigError: The variable is set but names no key (an empty or comments-only file, ``","``): starting
            would leave the API open while its operator believes it locked.
    """
    raw = (environ if environ is not None else os.environ).get("SUMMARIZER_API_KEYS", "").strip()
    if not raw:
        return []
    if "," not in raw and Path(raw).is_file():
        lines = Path(raw).read_text(encoding="utf-8").splitlines()
        keys = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        where = f"the file {raw}"
    else:
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        where = "its value"
    if not keys:
        raise ConfigError(f"SUMMARIZER_API_KEYS is set but {where} names no key; refusing to start with an open API "
                          "(unset it to run without keys, or give at least one key)")
    return keys


class RateLimiter:
    """At most `per_minute` events per key in any 60 s window, for at most `max_keys` keys at once.

    Keys are kept in least-recently-seen order; a key idle for a minute is forgotten, and past `max_keys` the
    stalest is dropped, so 30,000 clients cost a bounded store and O(1) work a call.
    """

    def __init__(self, per_minute: int, max_keys: int = 10_000):
        self.per_minute, self.max_keys = per_minute, max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def retry_after(self, key: str, now: float | None = None) -> int:
        """0 when the event may go (and is counted), else the seconds until it may."""
        if self.per_minute <= 0:
            return 0
        now = time.monotonic() if now is None else now
        # Forget keys idle for a minute, oldest first: each call does at most a little of this work.
        for _ in range(4):
            if not self._seen:
                break
            oldest, times = next(iter(self._seen.items()))
            if times and now - times[-1] < 60:
                break
            del self._seen[oldest]
        q = self._seen.get(key)
        if q is None:
            q = self._seen[key] = deque()
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        while q and now - q[0] >= 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return int(60 - (now - q[0])) + 1
        q.append(now)
        return 0


def bad_string(value: Any, where: str = "", depth: int = 0) -> str | None:
    """Where a client value holds a string no writer can carry (a lone surrogate, a NUL), else None."""
    if depth > 64:
        return f"{where or 'the value'} is nested more than 64 levels deep"
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where or 'a string'} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where or 'a string'} contains a lone surrogate (not valid Unicode text)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = bad_string(k, f"{where}: key", depth + 1) or bad_string(v, f"{where}.{k}" if where else str(k),
                                                                                depth + 1)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = bad_string(v, f"{where}[{i}]", depth + 1)
            if found:
                return found
    return None


class _Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class RequestGuard:
    """ASGI middleware for the ``/v1/`` routes: host, key, rate limit, then the body, bounded in bytes and time.

    Args:
        app: The ASGI app behind it.
        keys: API keys (empty: no key needed).
        locked: Refuse every API request (the demo has a password and no API keys are set).
        per_minute: Requests a minute per key, or per client address without keys.
        max_body: Most body bytes; more is 413, whether announced by Content-Length or streamed chunked.
        body_seconds: Most seconds between two pieces of the body (and for the first); then 408.
        allowed_hosts: Host header names accepted (None: any); a keyless server on loopback sets `LOCAL_HOSTS`.
        methods: The methods each API path takes; another method gets 405.
        on_refusal: Called with (path, status) for metrics.
    """

    def __init__(self, app, *, keys: list[str], locked: bool, per_minute: int, max_body: int,
                 body_seconds: float = 30.0, allowed_hosts: tuple[str, ...] | None = None,
                 methods: Mapping[str, tuple[str, ...]] | None = None,
                 on_refusal: Callable[[str, int], None] | None = None):
        self.app, self.keys, self.locked = app, keys, locked
        self.methods = dict(methods or {})
        self.limiter = RateLimiter(per_minute)
        # Wrong keys are limited per address too: 300 guesses a minute would otherwise all be answered.
        self.failures = RateLimiter(10)
        self.max_body, self.body_seconds = max_body, body_seconds
        self.allowed_hosts = allowed_hosts
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        try:
            self._check_host(scope)
            allowed = self.methods.get(path)
            if allowed is not None and scope.get("method") not in allowed:
                # The demo is mounted at "/" and would answer 404 for, say, TRACE /health.
                raise _Refusal(405, f"{path} takes {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
            if not path.startswith("/v1/"):
                await self.app(scope, receive, send)
                return
            self._check_client(scope)
            body = await self._read_body(scope, receive)
        except _Refusal as refusal:
            await self._refuse(scope, send, refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_host(self, scope: Scope) -> None:
        if self.allowed_hosts is None:
            return
        host = _header(scope, b"host")
        name = host.rsplit(":", 1)[0] if host and not host.endswith("]") else host
        if name not in self.allowed_hosts:
            raise _Refusal(421, f"this server answers only to {', '.join(self.allowed_hosts[:3])} "
                                "(set SUMMARIZER_API_KEYS to serve other host names)")

    def _check_client(self, scope: Scope) -> None:
        address = (scope.get("client") or ("?", 0))[0]
        who = address
        if self.keys or self.locked:
            given = _header(scope, b"authorization")
            token = given[7:].strip() if given.lower().startswith("bearer ") else ""
            match = next((k for k in self.keys if token and hmac.compare_digest(token.encode(), k.encode())), None)
            if match is None:
                wait = self.failures.retry_after(address)
                if wait:
                    raise _Refusal(429, f"too many failed authentications; retry in {wait} s", {"Retry-After": str(wait)})
                why = ("the demo is password-protected; set SUMMARIZER_API_KEYS to use the API" if self.locked
                       else "send Authorization: Bearer <key>")
                raise _Refusal(401, f"authentication required: {why}", {"WWW-Authenticate": "Bearer"})
            who = "key:" + match
        wait = self.limiter.retry_after(who)
        if wait:
            raise _Refusal(429, f"rate limit of {self.limiter.per_minute} requests a minute reached; retry in {wait} s",
                           {"Retry-After": str(wait)})

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        size = _header(scope, b"content-length")
        if size:
            if not size.isdigit():
                raise _Refusal(400, "Content-Length is not a number")
            if int(size) > self.max_body:
                raise _Refusal(413, f"the request body is {int(size):,} bytes; the limit is {self.max_body:,}")
        chunks, total = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.body_seconds)
            except asyncio.TimeoutError:
                raise _Refusal(408, f"the request body did not arrive within {self.body_seconds:g} s") from None
            if message["type"] == "http.disconnect":
                raise _Refusal(499, "the client left")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                raise _Refusal(413, f"the request body is over the limit of {self.max_body:,} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, send: Send, refusal: _Refusal) -> None:
        if self.on_refusal is not None:
            self.on_refusal(scope.get("path", ""), refusal.status)
        if refusal.status == 499:
            return
        body = json.dumps({"error": refusal.message}).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        headers += [(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then passes on what the client sends (disconnects)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol with a deadline for a request's headers (uvicorn has none: a client that sends half a
    request line and stops holds its connection for ever; 200 of them were still open after 72 s).

    The timer is armed when a connection opens and whenever bytes of a new request arrive, and disarmed when the
    request's headers are complete; a connection whose headers are not complete in `seconds` is closed.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer = None
            self._arm()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._armed_cycle = self.cycle
                self._header_timer = self.loop.call_later(seconds, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            waiting = self.cycle is None or self.cycle is self._armed_cycle or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.cycle is self._armed_cycle and not self.transport.is_closing():
                logger.info("closed a connection whose request headers did not arrive within %g s", seconds)
                self.transport.close()

    return HeaderTimeoutProtocol
