"""What every request passes before a handler sees it: the host, the origin, the key, the rate limit, the content type,
a body read with a byte limit and a time limit, and the demo's login throttle.

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
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from .config import ConfigError

logger = logging.getLogger("summarizer")

__all__ = ["api_keys", "RateLimiter", "RequestGuard", "LoginThrottle", "bad_string", "LOCAL_HOSTS", "header_timeout_protocol"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Host names a keyless server on this machine answers to: anything else is refused (DNS rebinding).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


# A SUMMARIZER_API_KEYS value starting so names a key file, never a key.
_PATH_STARTS = ("/", "./", "../", "~")


def api_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """Keys from ``SUMMARIZER_API_KEYS``: comma-separated, or a file with one key per line (``#`` comments).

    A value that starts with ``/``, ``./``, ``../`` or ``~`` is a file's path, so it must be a readable file.

    Raises:
        ConfigError: The variable is set but names no key (an empty or comments-only file, ``","``), or names a
            key file that is missing or a folder: starting would leave the API open, or keyed by its own path,
            while its operator believes it locked.
    """
    raw = (environ if environ is not None else os.environ).get("SUMMARIZER_API_KEYS", "").strip()
    if not raw:
        return []
    path = Path(raw).expanduser()
    if "," not in raw and (path.is_file() or raw.startswith(_PATH_STARTS)):
        # A value that reads as a path is a file, or no key at all: a missing key file must not become the key.
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            why = "is a folder" if path.is_dir() else "does not exist" if not path.exists() else str(exc)
            raise ConfigError(f"SUMMARIZER_API_KEYS names the key file {raw}, which {why}; refusing to start") from None
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
    """ASGI middleware in front of every route: host, origin, method, then for the API the key, the rate limit and
    the content type, and for every body a byte limit of its own route and a time limit.

    Args:
        app: The ASGI app behind it.
        keys: API keys (empty: no key needed).
        locked: Refuse every API request (the demo has a password and no API keys are set).
        per_minute: Requests a minute per key, or per client address without keys.
        body_limits: Most body bytes per path (exact paths); more is 413, whether announced by Content-Length or
            streamed chunked. A path not named gets `default_body`.
        default_body: Most body bytes of any other route (the demo's JSON calls).
        streamed: Paths whose bodies go on to the app as they arrive, counted rather than held (uploads); their
            limit is in `body_limits`.
        body_seconds: Most seconds between two pieces of the body (and for the first); then 408.
        allowed_hosts: Host header names accepted (None: any); a server on loopback sets `LOCAL_HOSTS`.
        api_any_host: The API routes skip the host check (they need a key, so a rebound name gains nothing).
        origins: Origins besides the server's own that may send requests (CORS is opt-in); a browser's request
            from any other site is refused (403) before it does anything.
        methods: The methods each API path takes; another method gets 405.
        on_refusal: Called with (path, status) for metrics.
    """

    def __init__(self, app, *, keys: list[str], locked: bool, per_minute: int, body_limits: Mapping[str, int],
                 default_body: int, streamed: tuple[str, ...] = (), body_seconds: float = 30.0,
                 allowed_hosts: tuple[str, ...] | None = None, api_any_host: bool = False,
                 origins: tuple[str, ...] = (), methods: Mapping[str, tuple[str, ...]] | None = None,
                 on_refusal: Callable[[str, int], None] | None = None):
        self.app, self.keys, self.locked = app, keys, locked
        self.methods = dict(methods or {})
        self.limiter = RateLimiter(per_minute)
        # Wrong keys are limited per address too: 300 guesses a minute would otherwise all be answered.
        self.failures = RateLimiter(10)
        self.body_limits, self.default_body, self.streamed = dict(body_limits), default_body, streamed
        self.body_seconds = body_seconds
        self.allowed_hosts, self.api_any_host = allowed_hosts, api_any_host
        self.origins = {o.rstrip("/").lower() for o in origins}
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        api = path.startswith("/v1/")
        limit = self.body_limits.get(path, self.default_body)
        try:
            if not (api and self.api_any_host):
                self._check_host(scope)
            allowed = self.methods.get(path)
            if allowed is not None and scope.get("method") not in allowed:
                # The demo is mounted at "/" and would answer 404 for, say, TRACE /health.
                raise _Refusal(405, f"{path} takes {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
            self._check_origin(scope)
            if api:
                self._check_client(scope)
                if scope.get("method") == "POST":
                    self._check_json(scope)
            if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
                await self.app(scope, receive, send)
                return
            self._check_length(scope, limit)
            if path in self.streamed:
                await self._pass_counted(scope, receive, send, limit)
                return
            body = await self._read_body(receive, limit)
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
                                "(start it with --allowed-host NAME to serve other host names)")

    def _check_origin(self, scope: Scope) -> None:
        """A browser names the page that sent a request in Origin: a page of another site may not drive this server
        (a text/plain or form POST needs no preflight, so without this any web page could use a local server)."""
        origin = _header(scope, b"origin").rstrip("/").lower()
        if not origin or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return
        own = _header(scope, b"host").lower()
        if origin.split("://", 1)[-1] == own or origin in self.origins:
            return
        raise _Refusal(403, f"requests from {origin[:100]} are not allowed (set SUMMARIZER_CORS_ORIGINS to allow "
                            "another site)")

    @staticmethod
    def _check_json(scope: Scope) -> None:
        kind = _header(scope, b"content-type").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            raise _Refusal(415, f"send the body as Content-Type: application/json (got {kind[:60] or 'none'})")

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

    @staticmethod
    def _check_length(scope: Scope, limit: int) -> None:
        size = _header(scope, b"content-length")
        if size:
            if not size.isdigit():
                raise _Refusal(400, "Content-Length is not a number")
            if int(size) > limit:
                raise _Refusal(413, f"the request body is {int(size):,} bytes; the limit is {limit:,}")

    async def _next_piece(self, receive: Receive) -> dict[str, Any]:
        try:
            message = await asyncio.wait_for(receive(), self.body_seconds)
        except asyncio.TimeoutError:
            raise _Refusal(408, f"the request body did not arrive within {self.body_seconds:g} s") from None
        if message["type"] == "http.disconnect":
            raise _Refusal(499, "the client left")
        return message

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        chunks, total = [], 0
        while True:
            message = await self._next_piece(receive)
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise _Refusal(413, f"the request body is over the limit of {limit:,} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _pass_counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Hand the body on as it arrives (an upload goes to disk, not memory), counting it: at the first byte over
        `limit`, or a stall, the app is told the client left and the client gets the refusal."""
        total, started, refusal = 0, False, None

        async def counted() -> dict[str, Any]:
            nonlocal total, refusal
            if refusal is not None:
                return {"type": "http.disconnect"}
            try:
                message = await self._next_piece(receive)
            except _Refusal as exc:
                refusal = exc
                return {"type": "http.disconnect"}
            total += len(message.get("body", b""))
            if total > limit:
                refusal = _Refusal(413, f"the request body is over the limit of {limit:,} bytes")
                return {"type": "http.disconnect"}
            return message

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            if refusal is not None:
                return  # the refusal below answers instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:  # noqa: BLE001 - the app may raise on the cut-off body; the refusal is the answer
            if refusal is None:
                raise
        if refusal is not None and not started:
            await self._refuse(scope, send, refusal)

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


class LoginThrottle:
    """ASGI middleware: after `failures` wrong passwords from one client within `window_s`, that client's
    logins are answered 429 (with Retry-After) until the window has passed; a right password clears it."""

    def __init__(self, app, failures: int = 5, window_s: float = 60.0):
        self.app, self.failures, self.window_s = app, failures, window_s
        self._failed: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/login"):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failed.get(client, []) if now - t < self.window_s]
            self._failed[client] = recent
            if len(self._failed) > 10_000:
                self._failed = {k: v for k, v in self._failed.items() if v}
        if len(recent) >= self.failures:
            retry = int(self.window_s - (now - recent[0])) + 1
            body = json.dumps({"error": f"too many failed logins; try again in {retry} s"}).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        with self._lock:
            if status.get("code", 500) >= 400:
                self._failed.setdefault(client, []).append(time.monotonic())
            else:
                self._failed.pop(client, None)


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
