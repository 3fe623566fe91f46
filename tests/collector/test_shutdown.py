"""SIGTERM drains in-flight requests and seals the landing files."""

from __future__ import annotations

import base64
import json
import signal
import socket
import time

from collector.landing import sealed_files


def test_sigterm_drains_in_flight_requests(collector_server):
    server = collector_server()
    body = json.dumps({"batch": [{"type": "track", "event": "Drained", "userId": "u1"}]}).encode()
    auth = base64.b64encode(b"wk_test:")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Authorization: Basic " + auth + b"\r\nContent-Length: " + str(len(body)).encode()
                           + b"\r\n\r\n" + body[:10])
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)  # the request is in flight: half its body has arrived
        time.sleep(0.5)
        assert server.running, "the collector must wait for the in-flight request"
        connection.sendall(body[10:])
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert server.process.wait(20) == 0, "a drained SIGTERM is a clean stop: status 0, not uvicorn's 143"
    (landed,) = [json.loads(line) for path in sealed_files(server.landing) for line in path.read_bytes().splitlines()]
    assert landed["event"] == "Drained"
    assert not list(server.landing.rglob("*.open"))
