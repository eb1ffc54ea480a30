"""The server: one FastAPI app with the REST API (`api`) and the Gradio demo (`app`) mounted on it, both behind the
bounded queue (`workqueue`) in front of the one model and the request guards (`guard`), and `serve` (uvicorn,
signals, clean exit).

The front ends are imported when the app is built, so importing this module costs no web stack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable

from .guard import LOCAL_HOSTS, LoginThrottle, header_timeout_protocol
from .pipeline import Pipeline, load_pipeline
from .runtime import clear_generators
from .workqueue import WorkQueue

logger = logging.getLogger("summarizer")

__all__ = ["create_server_app", "serve"]


def _auth() -> list[tuple[str, str]] | None:
    raw = os.environ.get("SUMMARIZER_AUTH")
    if not raw:
        return None
    user, _, password = raw.partition(":")
    if not user or not password:
        raise ValueError("SUMMARIZER_AUTH must be 'user:password'")
    return [(user, password)]


def create_server_app(pipe: Pipeline, downloads: Any = None,
                      allowed_hosts: tuple[str, ...] | None = None):
    """The FastAPI app: the REST API (`summarizer.api`) with the Gradio demo mounted at ``/``, both behind one queue
    in front of the one model, and the login throttle and request guard in front of everything.

    Args:
        pipe: The one pipeline of the process.
        downloads: Where the demo's result files go.
        allowed_hosts: Host names answered when no API keys are set (None: any).
    """
    import gradio as gr

    from .api import create_api
    from .app import REDUCED_MOTION_CSS, SESSIONS_KEPT, build_app

    limits = pipe.config.limits
    queue = WorkQueue(limits.concurrency, limits.queue_size)
    app = create_api(pipe, queue, allowed_hosts=allowed_hosts)
    # `serve` drains it on SIGTERM, before uvicorn's graceful wait: every request in flight answers 503 at once.
    app.state.queue = queue
    app.add_middleware(LoginThrottle)
    demo = build_app(pipe, downloads, queue)
    demo.queue(default_concurrency_limit=limits.concurrency, max_size=64)
    # Gradio keeps every session's component values (every API call is a new session) up to this many: its
    # default of 10,000 grew the server by ~70 KB a request over a soak. The app keeps no state between requests.
    demo.state_session_capacity = SESSIONS_KEPT
    app = gr.mount_gradio_app(app, demo, path="/", auth=_auth(), footer_links=["api"], css=REDUCED_MOTION_CSS,
                              max_file_size=int(limits.max_upload_mb * 1024 * 1024), show_error=True)
    # Gradio refuses file values that were not uploaded (a crafted {"path": "/etc/passwd"}) only once it
    # counts the app as launched, which mount_gradio_app never marks; `uploaded_file` checks again.
    demo.has_launched = True
    return app


def serve(config: str | None = None, overrides: dict | None = None, host: str = "127.0.0.1", port: int = 7860,
          preload: bool = False, forwarded_allow_ips: str | None = None,
          allowed_hosts: tuple[str, ...] = ()) -> int:
    """Start the demo and the API; the model loads once (at start with `preload`, else on the first request).

    SIGTERM and SIGINT stop the server within a few seconds even while a request is being processed.

    Args:
        config: Config name or path.
        overrides: Dotted config overrides.
        host: Bind address; 127.0.0.1 unless told otherwise.
        port: TCP port.
        preload: Load the models before serving.
        forwarded_allow_ips: Proxy addresses whose X-Forwarded-For is believed (comma-separated); None: no
            client's, so no client can pick the address the rate limits see.
        allowed_hosts: More Host names a keyless server on a loopback address answers to.

    Returns:
        130 after SIGINT (Ctrl-C), 143 after SIGTERM (128 + the signal, as `run` does), else 0.
    """
    import uvicorn

    from .app import Downloads

    # Gradio reports usage to huggingface.co unless told not to; a news service's server sends nothing anywhere on
    # its own (set GRADIO_ANALYTICS_ENABLED=True to allow it).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    pipe = load_pipeline(config, overrides)
    if preload:
        pipe.warm_up()
    downloads = Downloads()
    # A keyless server on loopback answers only to local host names (a web page cannot rebind a name to it).
    local = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    hosts = (*LOCAL_HOSTS, *allowed_hosts) if local else (tuple(allowed_hosts) or None)
    app = create_server_app(pipe, downloads, allowed_hosts=hosts)
    limits = pipe.config.limits
    server = _draining_server()(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               timeout_graceful_shutdown=max(1, round(limits.shutdown_seconds)),
                                               proxy_headers=bool(forwarded_allow_ips),
                                               forwarded_allow_ips=forwarded_allow_ips or None,
                                               http=header_timeout_protocol(limits.body_seconds)),
                                drain=app.state.queue.drain)
    # A request cut short by the graceful-shutdown timeout is expected on SIGTERM, not an application error.
    logging.getLogger("uvicorn.error").addFilter(_NotCancelled())
    print(f"summarizer demo on http://{host}:{port} (config {pipe.config.name})", flush=True)
    main = threading.current_thread() is threading.main_thread()
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: make that an exception here
    # so the cleanup below runs instead of the process dying on the spot.
    previous = signal.signal(signal.SIGTERM, _sigterm_to_exit) if main else None
    global _TERMINATED
    _TERMINATED = False
    interrupted = False
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn shuts down on SIGINT, then raises it again: Ctrl-C ends here.
        interrupted = True
    except (SystemExit, asyncio.CancelledError):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        downloads.close()
        clear_generators()  # stops the model worker, even with a request still in flight
        print("summarizer demo stopped", flush=True)
    code = 128 + signal.SIGTERM if _TERMINATED else 128 + signal.SIGINT if interrupted else 0
    busy = [t for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.main_thread()]
    if busy:
        # A request still running in a worker thread would keep the process alive: the server is done, so go.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


_TERMINATED = False


def _draining_server():
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, which drains the work queue as soon as a stop signal comes: uvicorn then waits up to
        its graceful timeout for connections to end, and each request in flight has answered 503 by then instead
        of being cut off with a bare 500."""

        def __init__(self, config, drain: Callable[[], None]):
            super().__init__(config)
            self._drain = drain

        def handle_exit(self, sig, frame) -> None:
            self._drain()
            super().handle_exit(sig, frame)

    return DrainingServer


class _NotCancelled(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


def _sigterm_to_exit(signum, _frame):
    global _TERMINATED
    _TERMINATED = True
    raise SystemExit(0)
