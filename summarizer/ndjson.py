"""A streamed NDJSON response whose records are made in a worker thread, apart from the socket: a client that reads
slowly, or not at all, never paces the model."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from starlette.responses import Response

logger = logging.getLogger("summarizer")

__all__ = ["NdjsonStream"]

class NdjsonStream(Response):
    """NDJSON of a batch whose model work runs apart from the socket.

    The work runs in its own thread and puts each record in a buffer (at most ``limits.max_files`` records, each
    bounded), so a client that reads slowly or not at all never paces the model: the slot is freed when the work
    ends. A record the client does not take within `write_seconds` (``limits.write_seconds``) drops the stream, and a client that leaves
    cancels the work before its next model request.
    """

    media_type = "application/x-ndjson"

    def __init__(self, produce: Callable[[Callable[[bytes], None], threading.Event], None], slot: Any,
                 write_seconds: float):
        super().__init__(media_type=self.media_type)
        self.write_seconds = write_seconds
        # Streamed: no Content-Length (Response would announce an empty body).
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.produce, self.slot = produce, slot
        self.cancel = threading.Event()
        # The client left: nothing more is written. (A cancel alone, a server that stops, still sends the records
        # the work ends with: each article left as a "shutting down" error record.)
        self.gone = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue = asyncio.Queue()

        def work() -> None:
            try:
                self.produce(lambda line: loop.call_soon_threadsafe(lines.put_nowait, line), self.cancel)
            except Exception:  # noqa: BLE001 - the stream must still end; records carry per-article errors
                logger.exception("API batch failed")
            finally:
                self.slot.release()
                loop.call_soon_threadsafe(lines.put_nowait, None)

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.gone.set()
            self.cancel.set()

        worker = threading.Thread(target=work, name="summarizer-api-batch", daemon=True)
        try:
            worker.start()
        except BaseException:
            self.slot.release()
            raise
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait_for(send({"type": "http.response.start", "status": 200, "headers": self.raw_headers}),
                                   self.write_seconds)
            while (line := await lines.get()) is not None:
                if self.gone.is_set():
                    return
                await asyncio.wait_for(send({"type": "http.response.body", "body": line, "more_body": True}),
                                       self.write_seconds)
            await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}),
                                   self.write_seconds)
        except (asyncio.TimeoutError, OSError) as exc:
            logger.warning("dropped an NDJSON stream: the client did not read it (%s)", type(exc).__name__)
        finally:
            self.cancel.set()
            watcher.cancel()
