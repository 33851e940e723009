"""Real receivers on loopback for the notification tests: an HTTP(S) server that records what is posted
(apprise's json:// and Teams' workflows://) and answers with a status we choose, and an SMTP server
(aiosmtpd) that keeps each message."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Posted:
    path: str
    body: Any


@dataclass
class Receiver:
    """What an HTTP receiver got, and the status it answers with (settable between runs)."""

    port: int = 0
    status: int = 200
    posted: list[Posted] = field(default_factory=list)

    def json_url(self, path: str, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def messages(self, path: str | None = None) -> list[Any]:
        return [p.body for p in self.posted if path is None or p.path.split("?")[0].strip("/").startswith(path)]


@contextmanager
def http_receiver(certificate: tuple[Path, Path] | None = None, port: int = 0) -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 (HTTPS with `certificate`: (cert chain, key)) in a thread of this process."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            receiver.posted.append(Posted(self.path, json.loads(raw) if raw else None))
            self.send_response(receiver.status)
            self.end_headers()
            self.wfile.write(b"{}" if receiver.status < 400 else b"refused")

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A loopback port nothing listens on (a destination that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """aiosmtpd on 127.0.0.1: a real SMTP server; each message it accepts is kept, parsed."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox(closed_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mailbox.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def mail_parts(message: Message) -> dict[str, str]:
    """A message's text/plain and text/html bodies, decoded."""
    parts = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return parts
