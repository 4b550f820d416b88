"""The metrics listener on real sockets (TCP on loopback, unix), the addresses it takes,
and the two health checks behind ``/healthz``."""

from __future__ import annotations

import http.client
import os
import select
import socket
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from schedctl.clock import FakeClock
from schedctl.errors import StoreError
from schedctl.jobfile.addresses import ListenAddress, parse_listen_address
from schedctl.metrics.health import LoopWatch, StoreProbe
from schedctl.metrics.server import MetricsListenError, MetricsServer
from tests.cli.helpers import wait_until

ROUTES = {
    "/metrics": lambda: (200, "text/plain; version=0.0.4; charset=utf-8", b"up 1\n"),
    "/healthz": lambda: (503, "text/plain; charset=utf-8", b"unhealthy: test\n"),
    "/boom": lambda: 1 / 0,
}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def get(conn: http.client.HTTPConnection, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    conn.request(method, path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.getheader("Content-Type") or "", body


@pytest.fixture
def serving() -> Iterator[list[MetricsServer]]:
    servers: list[MetricsServer] = []
    yield servers
    for server in servers:
        server.close()


def start(servers: list[MetricsServer], address: ListenAddress) -> MetricsServer:
    server = MetricsServer(address, ROUTES)
    server.start()
    servers.append(server)
    return server


# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:9746", ListenAddress("127.0.0.1", 9746)),
    (":9746", ListenAddress("", 9746)),
    ("[::1]:80", ListenAddress("::1", 80)),
    ("localhost:0", ListenAddress("localhost", 0)),
    ("/run/schedctl/metrics.sock", ListenAddress(path="/run/schedctl/metrics.sock")),
], ids=["ipv4", "every-interface", "ipv6", "any-port", "unix"])
def test_addresses_that_parse(text: str, expected: ListenAddress) -> None:
    assert parse_listen_address(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text, words", [
    ("9746", "write :9746"), ("localhost", "not an address"), ("::1:80", "brackets"),
    (":99999", "0 to 65535"), (":http", "0 to 65535"), ("", "expected an address"),
    ("/" + "x" * 120, "too long"),
], ids=["bare-port", "no-port", "ipv6-unbracketed", "port-too-big", "port-name", "empty",
        "long-path"])
def test_addresses_refused_say_why(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_listen_address(text)


def test_a_relative_socket_path_is_taken_from_the_base() -> None:
    assert parse_listen_address("run/m.sock", base="/etc/schedctl").path == "/etc/schedctl/run/m.sock"


# -- the listener -----------------------------------------------------------------------------


def test_tcp_routes_answer_and_the_rest_is_404(serving: list[MetricsServer]) -> None:
    server = start(serving, ListenAddress("127.0.0.1", 0))
    assert server.port and server.where == f"127.0.0.1:{server.port}"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert get(conn, "/metrics?x=1") == (200, "text/plain; version=0.0.4; charset=utf-8", b"up 1\n")
    assert get(conn, "/healthz")[0::2] == (503, b"unhealthy: test\n")
    assert get(conn, "/metrics", "HEAD")[0::2] == (200, b"")
    status, _, body = get(conn, "/nothing")
    assert status == 404 and b"/metrics" in body
    assert get(conn, "/boom")[0] == 500
    assert get(conn, "/metrics")[0] == 200  # still serving after the error


def raw(port: int, request: bytes) -> bytes:
    """What the server answers to ``request`` as sent, read until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", b"200 OK"),
    (b"GET http://127.0.0.1/metrics HTTP/1.0\r\n\r\n", b"200 OK"),
    (b"POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", b"501 Not Implemented"),
    (b"GET /metrics\r\n\r\n", b"400 Bad Request"),
    (b"hello\r\n", b"400 Bad Request"),
    (b"GET /metrics HTTP/1.0\r\nX: " + b"y" * 9000 + b"\r\n\r\n", b"431 Request Header"),
    (b"GET /metrics HTTP/1.0\r\n" + b"X: y\r\n" * 101 + b"\r\n", b"431 Request Header"),
    (b"GET http://[/metrics HTTP/1.0\r\n\r\n", b"400 Bad Request"),
    (b"GET http://[::1]:x/metrics HTTP/1.0\r\n\r\n", b"200 OK"),
], ids=["http-1.1", "absolute-url", "post", "no-version", "garbage", "long-header",
        "many-headers", "unclosed-ipv6-host", "bad-port"])
def test_each_request_gets_one_http_1_0_answer_and_the_connection_closes(
        serving: list[MetricsServer], request_bytes: bytes, status: bytes) -> None:
    server = start(serving, ListenAddress("127.0.0.1", 0))
    assert server.port
    head, _, body = raw(server.port, request_bytes).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.0 " + status), lines[0]
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert int(headers[b"Content-Length"]) == len(body) > 0
    assert headers[b"Server"].startswith(b"schedctl/") and headers[b"Date"].endswith(b" GMT")
    assert raw(server.port, b"GET /metrics HTTP/1.0\r\n\r\n").endswith(b"\r\n\r\nup 1\n")


def test_a_client_that_leaves_without_asking_does_not_stop_the_listener(
        serving: list[MetricsServer]) -> None:
    server = start(serving, ListenAddress("127.0.0.1", 0))
    assert server.port
    for request in (b"", b"GET /metrics HTTP/1.0\r\n"):  # nothing; half a request
        socket.create_connection(("127.0.0.1", server.port)).close()
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(request)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert get(conn, "/metrics")[0] == 200


def test_a_slow_client_does_not_hold_up_others(serving: list[MetricsServer]) -> None:
    server = start(serving, ListenAddress("127.0.0.1", 0))
    idle = socket.create_connection(("127.0.0.1", server.port))  # connects, sends nothing
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        assert get(conn, "/metrics")[0] == 200
    finally:
        idle.close()


def test_every_interface_is_shown_as_the_wildcard_address_so_a_url_can_be_made_of_it(
    serving: list[MetricsServer],
) -> None:
    server = start(serving, ListenAddress("", 0))
    assert server.where in (f"[::]:{server.port}", f"0.0.0.0:{server.port}")
    assert get(http.client.HTTPConnection(server.where), "/metrics")[0] == 200


def test_a_taken_port_is_one_clear_error(serving: list[MetricsServer]) -> None:
    server = start(serving, ListenAddress("127.0.0.1", 0))
    with pytest.raises(MetricsListenError, match=rf"127.0.0.1:{server.port}: .*in use"):
        start(serving, ListenAddress("127.0.0.1", server.port or 0))


def test_a_socket_in_a_missing_directory_says_which_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "metrics.sock"
    server = MetricsServer(ListenAddress(path=str(path)), where="--metrics")
    with pytest.raises(MetricsListenError) as raised:
        server.bind()
    assert str(raised.value) == (f"--metrics: cannot serve metrics on {path}: the directory "
                                 f"{path.parent} does not exist; create it or choose another path")


def test_a_unix_socket_is_private_to_owner_and_group_and_removed_at_close(
    tmp_path: Path, serving: list[MetricsServer]
) -> None:
    path = str(tmp_path / "metrics.sock")
    server = start(serving, ListenAddress(path=path))
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660
    assert get(UnixConnection(path), "/metrics")[2] == b"up 1\n"
    server.close()
    assert not os.path.exists(path)


def test_a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not(
    tmp_path: Path, serving: list[MetricsServer]
) -> None:
    path = str(tmp_path / "metrics.sock")
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(path)
    left.close()  # the file stays, nobody listens: what a killed scheduler leaves
    start(serving, ListenAddress(path=path))
    with pytest.raises(MetricsListenError, match="another process listens"):
        start(serving, ListenAddress(path=path))
    plain = tmp_path / "plain"
    plain.write_text("keep me")
    with pytest.raises(MetricsListenError, match="not a socket"):
        start(serving, ListenAddress(path=str(plain)))
    assert plain.read_text() == "keep me"


# -- health -------------------------------------------------------------------------------------


def test_the_loop_watch_says_when_the_loop_is_overdue() -> None:
    clock = FakeClock()
    watch = LoopWatch(clock, allowance=30)
    wake = threading.Event()
    watch.wait(clock.now() + timedelta(seconds=60), wake)  # the fake clock jumps to it
    assert watch.problem() is None  # a pass begins: it has 30 s
    clock.advance(29)
    assert watch.problem() is None
    clock.advance(2)
    assert "not come round" in (watch.problem() or "")
    wake.set()
    watch.wait(clock.now() + timedelta(seconds=600), wake)  # woken at once; the pass ends in time
    assert watch.problem() is None
    assert watch.now() == clock.now()


def test_the_store_probe_turns_a_hang_into_an_answer() -> None:
    release = threading.Event()

    def hangs() -> str | None:
        release.wait(10)
        return None

    probe = StoreProbe(hangs, timeout=0.2)
    assert "did not answer within 0.2 s" in (probe.problem() or "")
    release.set()
    assert probe.problem() is None


def test_the_store_probe_says_what_the_store_said() -> None:
    def fails() -> str | None:
        raise StoreError("/var/lib/schedctl/jobs.db is damaged")

    assert StoreProbe(fails).problem() == "the state store fails: /var/lib/schedctl/jobs.db is damaged"



def test_a_flood_of_connections_costs_a_bounded_number_of_threads(
        serving: list[MetricsServer]) -> None:
    """Connections past the limit are answered 503, or cut off to make room, at once by the
    listening thread: a flood neither starts a thread each nor waits on anyone."""
    server = MetricsServer(ListenAddress("127.0.0.1", 0), ROUTES, max_clients=4)
    server.start()
    serving.append(server)
    before = threading.active_count()
    flood = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(40)]
    answers: dict[socket.socket, bytes] = {}

    def all_but_four_ended() -> bool:
        for client in select.select([c for c in flood if c not in answers], [], [], 0.1)[0]:
            try:
                answers[client] = client.recv(200)
            except ConnectionResetError:
                answers[client] = b""
        return len(answers) >= len(flood) - 4

    try:
        wait_until(all_but_four_ended, 5, what="all but 4 clients to be answered or cut off")
        for answer in answers.values():
            assert answer == b"" or answer.startswith(b"HTTP/1.0 503 Service Unavailable"), answer
        assert threading.active_count() - before <= 4
    finally:
        for client in flood:
            client.close()
    assert scrape_answers(server)


def scrape_answers(server: MetricsServer) -> bool:
    """Whether a scrape is answered 200 once the places of closed clients are given back."""
    def answered() -> bool:
        return get(http.client.HTTPConnection("127.0.0.1", server.port, timeout=5),
                   "/metrics")[0] == 200
    wait_until(answered, 5, what="a scrape to be answered")
    return True


def test_a_client_sending_a_byte_now_and_then_is_dropped_at_the_request_deadline(
        serving: list[MetricsServer]) -> None:
    """Slowloris: every read gets a byte well within the read timeout, yet the request as
    a whole must be in by the deadline, or the connection is closed and its place freed."""
    server = MetricsServer(ListenAddress("127.0.0.1", 0), ROUTES, max_clients=1,
                           request_seconds=0.5)
    server.start()
    serving.append(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow:
        closed = False
        for byte in b"GET /metrics HTTP/1.0\r\nX-Slow: " + b"a" * 200:  # 10 s at 20 a second
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if select.select([slow], [], [], 0.05)[0]:  # closed by the server: readable
                closed = True
                break
        assert closed, "the slow client was still being read after 10 seconds"
    assert scrape_answers(server)


@pytest.mark.parametrize("sent", [b"", b"GET /metrics HTTP/1.0\r\nX-Slow: "],
                         ids=["silent", "half-sent"])
def test_clients_still_sending_cannot_keep_a_health_check_out(
        serving: list[MetricsServer], sent: bytes) -> None:
    """Slowloris holding every place, within its request deadline and again at once after:
    a new client takes the place of the one that has been sending its request longest, so
    /healthz (sent at once by systemd, a kubelet, curl) gets its route's answer, not
    'busy'."""
    server = MetricsServer(ListenAddress("127.0.0.1", 0), ROUTES, max_clients=2,
                           request_seconds=60)
    server.start()
    serving.append(server)
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(6)]
    try:
        for client in slow:
            client.sendall(sent)
        status, _, body = get(http.client.HTTPConnection("127.0.0.1", server.port, timeout=5),
                              "/healthz")
        assert (status, body) == (503, b"unhealthy: test\n")
    finally:
        for client in slow:
            client.close()


def test_a_unix_socket_health_check_gets_past_silent_clients(
        serving: list[MetricsServer], tmp_path: Path) -> None:
    path = str(tmp_path / "metrics.sock")
    server = MetricsServer(ListenAddress(path=path), ROUTES, max_clients=1, request_seconds=60)
    server.start()
    serving.append(server)
    silent = []
    try:
        for _ in range(3):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(path)
            silent.append(client)
        assert get(UnixConnection(path), "/metrics")[::2] == (200, b"up 1\n")
    finally:
        for client in silent:
            client.close()


def test_clients_that_never_take_their_answer_cannot_keep_a_health_check_out(
        serving: list[MetricsServer]) -> None:
    """The other half of slowloris: ask for a large answer and never read it. Such a client
    waits on the server as one still sending does, and gives its place up the same way."""
    routes = {**ROUTES, "/big": lambda: (200, "text/plain", b"x" * 16_000_000)}
    server = MetricsServer(ListenAddress("127.0.0.1", 0), routes, max_clients=2)
    server.start()
    serving.append(server)
    readers = []
    try:
        for _ in range(2):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", server.port))
            client.settimeout(5)
            client.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            assert client.recv(1) == b"H"  # its answer is being written: then it stops reading
            readers.append(client)
        status, _, body = get(http.client.HTTPConnection("127.0.0.1", server.port, timeout=10),
                              "/healthz")
        assert (status, body) == (503, b"unhealthy: test\n")
    finally:
        for client in readers:
            client.close()
