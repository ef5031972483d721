"""Owns the HTTP side of the service (--listen): POST /webhook for W&B Automations, GET /healthz, /readyz, /metrics.

The server is the standard library's ThreadingHTTPServer, held to limits of its own, because the service answers
four small routes on a port meant for a cluster's network (not the internet) and a web framework would be one more
dependency to keep: every connection gets a socket timeout (an idle client is dropped) and a deadline for the whole
request (a client that drips bytes is cut off), at most MAX_CONNECTIONS are served at once (the rest get 503 and are
closed), a body is read only up to MAX_BODY bytes (a larger Content-Length is refused with 413 before reading), one
request a connection (HTTP/1.0: no idle keep-alive), and only the methods each route takes. tests/e2e/test_service.py
holds it to each of these.

A W&B webhook is trusted only with a valid signature: X-Wandb-Signature = base64(HMAC-SHA256(WEBHOOK_SECRET, raw
body)), compared in constant time. A body is never logged (a refused one may be anything).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .logs import fields

log = logging.getLogger("wandb_spreadsheet_sync")
MAX_BODY = 16_384  # W&B's payload is a short template the user writes
IDLE_TIMEOUT = 5.0  # seconds a connection may stay silent
REQUEST_DEADLINE = 10.0  # seconds for a whole request, however its bytes trickle in
MAX_CONNECTIONS = 32
SIGNATURE = "X-Wandb-Signature"


def signature(secret: str, body: bytes) -> str:
    """What W&B sends in X-Wandb-Signature for this body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verified(secret: str, body: bytes, sent: str | None) -> bool:
    if not sent:
        return False
    expected = signature(secret, body).encode()
    return hmac.compare_digest(expected, sent.strip().encode("latin-1", "replace"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: Any, secret: str | None):
        self.service, self.secret = service, secret
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: Server
    timeout = IDLE_TIMEOUT  # socket timeout: an idle or silent client is dropped
    protocol_version = "HTTP/1.0"
    server_version = "wandb-spreadsheet-sync"
    sys_version = ""

    def handle(self) -> None:
        # A deadline for the whole request: a client sending a byte every few seconds never meets the idle
        # timeout, so its socket is shut when the deadline passes.
        timer = threading.Timer(REQUEST_DEADLINE, self._cut)
        timer.daemon = True
        timer.start()
        try:
            super().handle()
        except OSError:  # reset, timed out, or cut off by the deadline: nothing to answer
            pass
        finally:
            timer.cancel()

    def _cut(self) -> None:
        log.debug("cut off a client from %s that took longer than %.0f s", self.client_address[0], REQUEST_DEADLINE)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s %s", self.client_address[0], format % args)

    # -- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        service = self.server.service
        if path == "/healthz":
            ok, why = service.healthy()
            self._json(200 if ok else 503, {"ok": ok, "status": why})
        elif path == "/readyz":
            ok, targets = service.ready()
            self._json(200 if ok else 503, {"ok": ok, "targets": targets})
        elif path == "/metrics":
            from .metrics import CONTENT_TYPE

            self._send(200, service.metrics.exposition(), CONTENT_TYPE)
        elif path == "/webhook":
            self._json(405, {"error": "only POST"}, Allow="POST")
        else:
            self._json(404, {"error": "not found"})

    def do_HEAD(self) -> None:
        self._json(405, {"error": "method not allowed"}, Allow="GET, POST")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/webhook":
            if path in ("/healthz", "/readyz", "/metrics"):
                self._json(405, {"error": "only GET"}, Allow="GET")
            else:
                self._json(404, {"error": "not found"})
            return
        self._webhook()

    def _other(self) -> None:
        self._json(405, {"error": "method not allowed"}, Allow="GET, POST")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _other

    # -- the webhook ---------------------------------------------------------------------------
    def _webhook(self) -> None:
        service, secret, metrics = self.server.service, self.server.secret, self.server.service.metrics
        who = self.client_address[0]
        if not secret:
            metrics.webhooks.labels("off").inc()
            self._json(404, {"error": "the webhook endpoint is off: WEBHOOK_SECRET is not set"})
            return
        if self.headers.get("Transfer-Encoding"):
            metrics.webhooks.labels("bad_request").inc()
            self._json(411, {"error": "send a Content-Length (no chunked bodies)"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            metrics.webhooks.labels("bad_request").inc()
            self._json(411, {"error": "a Content-Length is required"})
            return
        if length < 0 or length > MAX_BODY:
            metrics.webhooks.labels("too_large").inc()
            log.warning("webhook: refused a body of %d bytes from %s (the limit is %d)", length, who, MAX_BODY,
                        extra=fields("webhook_refused", reason="too_large"))
            self._json(413, {"error": f"the body may be at most {MAX_BODY} bytes"})
            self._drain(min(length, 1 << 20))  # so the client reads the 413 rather than a reset connection
            return
        body = self._read(length)
        if body is None:
            return  # the client went away or was cut off
        sent = self.headers.get(SIGNATURE)
        if not verified(secret, body, sent):
            result = "no_signature" if not sent else "bad_signature"
            metrics.webhooks.labels(result).inc()
            log.warning("webhook: refused a request from %s with %s %s header; nothing synced", who,
                        "no" if not sent else "a wrong", SIGNATURE, extra=fields("webhook_refused", reason=result))
            self._json(401, {"error": f"missing or wrong {SIGNATURE}"})
            return
        try:
            event = json.loads(body)
            entity, project = event["entity_name"], event["project_name"]
            if not isinstance(entity, str) or not isinstance(project, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            metrics.webhooks.labels("bad_request").inc()
            log.warning("webhook: a signed event from %s without entity_name and project_name; see the README's "
                        "payload template", who, extra=fields("webhook_refused", reason="bad_request"))
            self._json(400, {"error": "the payload must be a JSON object with entity_name and project_name (see the "
                                      "README's payload template)"})
            return
        kind = str(event.get("event_type", ""))[:60]
        targets = service.targets_of(entity, project)
        path = f"{entity[:100]}/{project[:100]}"
        if not targets:
            metrics.webhooks.labels("unknown_project").inc()
            log.info("webhook: %s event for %s, which is not a configured project; nothing to sync", kind or "an",
                     path, extra=fields("webhook_ignored", path, event_type=kind))
            self._json(202, {"accepted": True, "syncing": []})
            return
        metrics.webhooks.labels("accepted").inc()
        log.info("webhook: %s event for %s; syncing it now", kind or "an", path,
                 extra=fields("webhook", path, event_type=kind))
        service.want(targets)
        self._json(202, {"accepted": True, "syncing": [f"{t.path} -> {t.worksheet}" for t in targets]})

    def _read(self, length: int) -> bytes | None:
        chunks, left = [], length
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    return None
                chunks.append(chunk)
                left -= len(chunk)
        except (OSError, ValueError):
            return None
        return b"".join(chunks)

    def _drain(self, length: int) -> None:
        try:
            self.connection.shutdown(socket.SHUT_WR)
            while length > 0:
                chunk = self.rfile.read(min(length, 65536))
                if not chunk:
                    break
                length -= len(chunk)
        except (OSError, ValueError):
            pass

    # -- answers -----------------------------------------------------------------------------
    def _json(self, status: int, payload: dict, **headers: str) -> None:
        self._send(status, (json.dumps(payload) + "\n").encode(), "application/json", **headers)

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass
        self.close_connection = True


def serve(service: Any, host: str, port: int, secret: str | None) -> tuple[Server, threading.Thread]:
    """Binds and serves in a thread; raises OSError when the address cannot be had."""
    server = Server((host, port), service, secret)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25}, name="http",
                              daemon=True)
    thread.start()
    return server, thread


def probe(host: str, port: int, timeout: float = 5.0) -> tuple[bool, str]:
    """GET /healthz of a service on this machine: (healthy, why), for --healthcheck."""
    import urllib.error
    import urllib.request

    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200, f"{url}: {answer.read(500).decode(errors='replace').strip()}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code} {exc.read(500).decode(errors='replace').strip()}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: no answer ({getattr(exc, 'reason', exc)}): the service is not running"
