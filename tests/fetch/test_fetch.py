"""The safe fetcher against local servers on 127.0.0.1: hosts, redirects, caps, timeouts, pages, leaks."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.errors import FetchError
from bot.fetch import CONNECTIONS_PER_HOST, MAX_REDIRECTS, Fetcher
from bot.model import ImageSource
from bot.settings import Limits, Settings
from tests.imagegen import jpeg, png

CAP = 256 * 1024
TOKEN = "xoxb-not-real"
SIGNATURE = "ex=65f0&is=65de&hm=deadbeefsignature"
SLACK_HINT = "Add the files:read scope to the Slack app and invite the bot to the channel."
IMAGE = png(120, 90, seed=7)


def _settings(*hosts: str, cap: int = CAP, timeout: float = 5.0) -> Settings:
    return Settings(media_hosts=hosts or ("127.0.0.1",), limits=Limits(max_image_bytes=cap, fetch_timeout_s=timeout))


@dataclass
class Seen:
    """What the local file host received."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    peers: list[object] = field(default_factory=list)

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [headers for seen_path, headers in self.requests if seen_path == path]


class FileHost:
    """A small file host with the misbehaviours a fetcher must survive."""

    def __init__(self) -> None:
        self.seen = Seen()
        self.port = 0
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/img.png", self._image)
        app.router.add_get("/photo.jpg", self._jpeg)
        app.router.add_get("/private.png", self._private)
        app.router.add_get("/login", self._login_page)
        app.router.add_get("/missing", self._missing)
        app.router.add_get("/server-error", self._server_error)
        app.router.add_get("/odd-status", self._odd_status)
        app.router.add_get("/empty", self._empty)
        app.router.add_get("/text", self._text)
        app.router.add_get("/to/{target:.*}", self._redirect)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/chain/{n}", self._chain)
        app.router.add_get("/nowhere", self._redirect_without_location)
        app.router.add_get("/slow-headers", self._slow_headers)
        app.router.add_get("/slow-body", self._slow_body)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/big-declared", self._big_declared)
        app.router.add_get("/gzip-bomb", self._gzip_bomb)
        app.router.add_get("/busy.png", self._busy)
        self.in_flight = 0
        self.most_in_flight = 0
        self.app = app

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.seen.requests.append((request.path, dict(request.headers)))
        if request.transport is not None:
            self.seen.peers.append(request.transport.get_extra_info("peername"))
        return await handler(request)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def _image(self, request: web.Request) -> web.Response:
        return web.Response(body=IMAGE, content_type="image/png")

    async def _jpeg(self, request: web.Request) -> web.Response:
        return web.Response(body=jpeg(), content_type="image/jpeg")

    async def _private(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") == f"Bearer {TOKEN}":
            return web.Response(body=IMAGE, content_type="image/png")
        return await self._login_page(request)

    async def _login_page(self, request: web.Request) -> web.Response:
        page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form></form></body></html>"
        return web.Response(text=page, content_type="text/html")

    async def _missing(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such file")

    async def _server_error(self, request: web.Request) -> web.Response:
        return web.Response(status=503, text=f"upstream said {TOKEN}")

    async def _odd_status(self, request: web.Request) -> web.Response:
        return web.Response(status=451, reason="Visit scam.example for your file", text="")

    async def _empty(self, request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="image/png")

    async def _text(self, request: web.Request) -> web.Response:
        return web.Response(body=b"just some plain words \x00\x01\x02", content_type="image/png")

    async def _redirect(self, request: web.Request) -> web.Response:
        target = request.match_info["target"]
        status = int(request.query.get("status", "302"))
        raise _redirect_response(status, target if "://" in target else f"/{target}")

    async def _loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def _chain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPFound("/img.png" if n == 0 else f"/chain/{n - 1}")

    async def _redirect_without_location(self, request: web.Request) -> web.Response:
        return web.Response(status=302)

    async def _slow_headers(self, request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(body=IMAGE)

    async def _slow_body(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(IMAGE[:100])
        await asyncio.sleep(30)
        await response.write(IMAGE[100:])
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        # Chunked, no Content-Length, never ends: only a cap enforced while streaming stops it.
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(IMAGE[:64])
        chunk = b"\x00" * 16_384
        while True:
            await response.write(chunk)

    async def _big_declared(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.content_length = CAP * 100
        await response.prepare(request)
        await response.write(IMAGE[:64])
        await asyncio.sleep(30)  # the fetcher must refuse from the header, not wait for the body
        return response

    async def _busy(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
        finally:
            self.in_flight -= 1
        return web.Response(body=IMAGE, content_type="image/png")

    async def _gzip_bomb(self, request: web.Request) -> web.Response:
        body = gzip.compress(IMAGE[:64] + b"\x00" * (CAP * 40))
        assert len(body) < CAP
        return web.Response(body=body, headers={"Content-Type": "image/png", "Content-Encoding": "gzip"})


def _redirect_response(status: int, target: str) -> web.HTTPException:
    kinds: dict[int, type[web.HTTPMove]] = {
        301: web.HTTPMovedPermanently,
        302: web.HTTPFound,
        303: web.HTTPSeeOther,
        307: web.HTTPTemporaryRedirect,
        308: web.HTTPPermanentRedirect,
    }
    return kinds[status](target)


@pytest.fixture
async def host() -> AsyncIterator[FileHost]:
    file_host = FileHost()
    server = TestServer(file_host.app, host="127.0.0.1")
    await server.start_server()
    file_host.port = server.port or 0
    try:
        yield file_host
    finally:
        await server.close()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    made = Fetcher(_settings("127.0.0.1", "localhost"))
    try:
        yield made
    finally:
        await made.aclose()


async def _fetch(fetcher: Fetcher, url: str, **source: object) -> bytes:
    return await fetcher.fetch(ImageSource(name="ref.png", url=url, **source))  # type: ignore[arg-type]


async def _refused(fetcher: Fetcher, url: str, **source: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await _fetch(fetcher, url, **source)
    error = caught.value
    assert error.name == "ref.png"
    assert error.user_message.startswith("ref.png: ")
    return error


# -- the happy paths -----------------------------------------------------------------------------


async def test_downloads_an_image(host: FileHost, fetcher: Fetcher) -> None:
    assert await _fetch(fetcher, host.url("/img.png")) == IMAGE
    assert (await _fetch(fetcher, host.url("/photo.jpg"))).startswith(b"\xff\xd8\xff")


async def test_given_data_is_returned_as_is_without_a_request(host: FileHost, fetcher: Fetcher) -> None:
    assert await fetcher.fetch(ImageSource(name="local.png", data=IMAGE)) == IMAGE
    assert host.seen.requests == []


async def test_given_data_is_still_sniffed(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"notes\.txt: the file is a text or web document"):
        await fetcher.fetch(ImageSource(name="notes.txt", data=b"<html><body>hi</body></html>"))
    with pytest.raises(FetchError, match="not an image the bot can read"):
        await fetcher.fetch(ImageSource(name="song.mp3", data=b"ID3\x04\x00" + b"\x00" * 100))


async def test_given_data_over_the_cap_is_refused(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="over the 256 KB limit"):
        await fetcher.fetch(ImageSource(name="huge.png", data=IMAGE[:8] + b"\x00" * (CAP + 1)))


async def test_platform_auth_headers_are_sent(host: FileHost, fetcher: Fetcher) -> None:
    data = await _fetch(fetcher, host.url("/private.png"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert data == IMAGE
    assert host.seen.headers_for("/private.png")[0]["Authorization"] == f"Bearer {TOKEN}"


async def test_one_session_and_connection_is_reused(host: FileHost, fetcher: Fetcher) -> None:
    for _ in range(3):
        await _fetch(fetcher, host.url("/img.png"))
    assert len(host.seen.peers) == 3
    assert len(set(map(str, host.seen.peers))) == 1  # keep-alive on one pooled connection


async def test_concurrent_downloads_share_a_bounded_pool(host: FileHost, fetcher: Fetcher) -> None:
    results = await asyncio.gather(*(_fetch(fetcher, host.url(f"/busy.png?n={i}")) for i in range(24)))
    assert results == [IMAGE] * 24
    assert 1 < host.most_in_flight <= CONNECTIONS_PER_HOST
    assert len(set(map(str, host.seen.peers))) <= CONNECTIONS_PER_HOST


async def test_same_host_redirects_are_followed_with_auth(host: FileHost, fetcher: Fetcher) -> None:
    data = await _fetch(fetcher, host.url("/to/private.png"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert data == IMAGE
    assert host.seen.headers_for("/private.png")[0]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_every_redirect_status_is_followed(host: FileHost, fetcher: Fetcher, status: int) -> None:
    assert await _fetch(fetcher, host.url(f"/to/img.png?status={status}")) == IMAGE


async def test_up_to_five_redirects_are_followed(host: FileHost, fetcher: Fetcher) -> None:
    assert await _fetch(fetcher, host.url(f"/chain/{MAX_REDIRECTS - 1}")) == IMAGE


async def test_the_fallback_is_tried_when_the_rendition_fails(host: FileHost, fetcher: Fetcher) -> None:
    data = await _fetch(fetcher, host.url("/missing"), fallback_url=host.url("/img.png"))
    assert data == IMAGE
    assert [path for path, _ in host.seen.requests] == ["/missing", "/img.png"]


# -- hosts and redirects -------------------------------------------------------------------------


async def test_a_host_not_listed_is_refused_without_connecting(host: FileHost) -> None:
    only_localhost = Fetcher(_settings("localhost"))
    try:
        error = await _refused(only_localhost, host.url("/img.png"))
    finally:
        await only_localhost.aclose()
    assert "not allowed" in error.reason and "127.0.0.1" in error.reason
    assert host.seen.requests == []


async def test_plain_http_to_a_listed_remote_host_is_refused(fetcher: Fetcher) -> None:
    remote = Fetcher(_settings("cdn.example.com"))
    try:
        error = await _refused(remote, "http://cdn.example.com/a.png")
        assert "not allowed" in error.reason
        error = await _refused(remote, "ftp://cdn.example.com/a.png")
        assert "not allowed" in error.reason
    finally:
        await remote.aclose()


@pytest.mark.parametrize("link", ["not a link", "/relative/path.png", "https://", "http://[::1"])
async def test_links_that_are_not_web_addresses(fetcher: Fetcher, link: str) -> None:
    error = await _refused(fetcher, link)
    assert error.reason == "the link is not a web address the bot can download from"


async def test_a_redirect_to_a_disallowed_host_is_refused(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/to/http://evil.example/steal.png"))
    assert "redirected to http://evil.example/steal.png" in error.reason
    assert "not an allowed media host" in error.reason


async def test_a_redirect_to_an_unlisted_loopback_port_host_is_refused(host: FileHost) -> None:
    only_ip = Fetcher(_settings("127.0.0.1"))
    try:
        error = await _refused(only_ip, host.url(f"/to/http://localhost:{host.port}/img.png"))
    finally:
        await only_ip.aclose()
    assert "not an allowed media host" in error.reason
    assert host.seen.headers_for("/img.png") == []


async def test_a_redirect_to_another_scheme_is_refused(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/to/file:///etc/passwd"))
    assert "not an allowed media host" in error.reason


async def test_auth_is_dropped_when_a_redirect_changes_host(host: FileHost, fetcher: Fetcher) -> None:
    secret_headers = {"Authorization": f"Bearer {TOKEN}", "Cookie": f"d={TOKEN}"}
    target = host.url("/img.png", host="localhost")
    data = await _fetch(fetcher, host.url(f"/to/{target}"), headers=secret_headers)
    assert data == IMAGE
    first, second = host.seen.requests
    assert first[1]["Authorization"] == f"Bearer {TOKEN}"
    assert second[0] == "/img.png"
    assert "Authorization" not in second[1]
    assert "Cookie" not in second[1]
    assert TOKEN not in repr(second[1])


async def test_auth_stays_dropped_after_returning_to_the_first_host(host: FileHost, fetcher: Fetcher) -> None:
    back = host.url("/private.png")
    away_and_back = host.url(f"/to/{back}", host="localhost")
    error = await _refused(fetcher, host.url(f"/to/{away_and_back}"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert "web page" in error.reason
    assert "Authorization" not in host.seen.headers_for("/private.png")[0]


async def test_too_many_redirects(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/loop"))
    assert f"more than {MAX_REDIRECTS} times" in error.reason
    assert len(host.seen.headers_for("/loop")) == MAX_REDIRECTS + 1


async def test_a_redirect_without_location(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/nowhere"))
    assert "without saying where" in error.reason


# -- sizes and time ------------------------------------------------------------------------------


async def test_a_declared_length_over_the_cap_is_refused_at_once(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/big-declared"))
    assert "25 MB" in error.reason and "256 KB limit" in error.reason


async def test_the_cap_holds_while_streaming_without_a_length(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/endless"))
    assert "over the 256 KB limit" in error.reason


async def test_the_cap_holds_for_decompressed_bytes(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/gzip-bomb"))
    assert "over the 256 KB limit" in error.reason


async def test_headers_that_never_come_time_out(host: FileHost) -> None:
    impatient = Fetcher(_settings(timeout=0.3))
    try:
        error = await _refused(impatient, host.url("/slow-headers"))
    finally:
        await impatient.aclose()
    assert "took longer than 0.3 s" in error.reason


async def test_a_body_that_stalls_times_out(host: FileHost) -> None:
    impatient = Fetcher(_settings(timeout=0.3))
    try:
        error = await _refused(impatient, host.url("/slow-body"))
    finally:
        await impatient.aclose()
    assert "took longer than 0.3 s" in error.reason


# -- answers that are not images -----------------------------------------------------------------


async def test_a_login_page_is_an_error_that_says_so(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/private.png"), auth_hint=SLACK_HINT)
    assert "sent a web page instead of the image" in error.reason
    assert error.reason.endswith(SLACK_HINT)


async def test_a_login_page_without_a_hint(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/login"))
    assert "web page" in error.reason
    assert error.reason.endswith("permission the bot does not have.")


async def test_the_page_error_wins_over_the_fallbacks_error(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/login"), fallback_url=host.url("/missing"), auth_hint=SLACK_HINT)
    assert "web page" in error.reason and SLACK_HINT in error.reason


async def test_the_last_error_is_reported_when_both_links_fail(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/server-error"), fallback_url=host.url("/missing"))
    assert "HTTP 404" in error.reason


async def test_an_empty_body(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/empty"))
    assert "was empty" in error.reason


async def test_bytes_that_are_not_an_image(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/text"))
    assert "not an image the bot can read" in error.reason


@pytest.mark.parametrize(("path", "status"), [("/missing", "HTTP 404 Not Found"), ("/server-error", "HTTP 503")])
async def test_http_errors_name_the_status(host: FileHost, fetcher: Fetcher, path: str, status: str) -> None:
    error = await _refused(fetcher, host.url(path))
    assert status in error.reason
    assert "127.0.0.1" in error.reason  # the host, not the whole link: the reason is shown in chat
    assert host.url(path) not in error.reason


async def test_the_servers_own_status_text_is_not_shown(host: FileHost, fetcher: Fetcher) -> None:
    error = await _refused(fetcher, host.url("/odd-status"))
    assert "HTTP 451 Unavailable For Legal Reasons" in error.reason
    assert "scam" not in error.reason


async def test_source_headers_override_defaults_case_insensitively(host: FileHost, fetcher: Fetcher) -> None:
    await _fetch(fetcher, host.url("/img.png"), headers={"user-agent": "DiscordBot (mergebot)"})
    sent = host.seen.headers_for("/img.png")[0]
    assert sent["User-Agent"] == "DiscordBot (mergebot)"
    assert sent["Accept-Encoding"] == "identity"


async def test_a_host_that_refuses_connections(fetcher: Fetcher) -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    error = await _refused(fetcher, f"http://127.0.0.1:{port}/img.png")
    assert "could not connect to 127.0.0.1" in error.reason


# -- nothing secret leaks ------------------------------------------------------------------------


async def test_errors_never_carry_tokens_or_signed_query_strings(
    host: FileHost, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    secret = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        host.url(f"/missing?{SIGNATURE}"),
        host.url(f"/server-error?{SIGNATURE}"),
        host.url(f"/login?{SIGNATURE}"),
        host.url(f"/to/http://evil.example/x?{SIGNATURE}"),
        f"http://user:{TOKEN}@127.0.0.1:{host.port}/missing?{SIGNATURE}",
        f"https://evil.example/a.png?{SIGNATURE}#{TOKEN}",
    ]
    for url in cases:
        error = await _refused(fetcher, url, headers=secret)
        for text in (error.user_message, error.reason, str(error), repr(error)):
            assert TOKEN not in text
            assert "deadbeefsignature" not in text
    server_side = ("aiohttp.access", "aiohttp.server", "aiohttp.web")  # the test's file host logs its own requests
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(server_side))
    assert "fetching" in logged
    assert TOKEN not in logged
    assert "deadbeefsignature" not in logged


# -- lifecycle -----------------------------------------------------------------------------------


async def test_a_session_passed_in_is_used_and_left_open(host: FileHost) -> None:
    async with aiohttp.ClientSession() as session:
        borrowed = Fetcher(_settings(), session=session)
        assert await _fetch(borrowed, host.url("/img.png")) == IMAGE
        await borrowed.aclose()
        assert not session.closed
        with pytest.raises(RuntimeError, match="closed"):
            await _fetch(borrowed, host.url("/img.png"))


async def test_aclose_closes_its_own_session(host: FileHost) -> None:
    own = Fetcher(_settings())
    await _fetch(own, host.url("/img.png"))
    session = own._session
    assert session is not None
    await own.aclose()
    assert session.closed
    await own.aclose()  # closing twice is harmless


# -- servers that lie about the body (raw HTTP on a socket) --------------------------------------

RawHandler = Callable[[asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(respond: RawHandler) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            try:
                await respond(writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/image.png"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _endless_body(writer: asyncio.StreamWriter, chunked: bool) -> None:
    payload = IMAGE[:64] + b"\x00" * 16_320
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload) if chunked else payload)
        await writer.drain()


async def test_the_cap_holds_for_a_close_delimited_body(
    raw_server: Callable[[RawHandler], Awaitable[str]], fetcher: Fetcher
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
        await _endless_body(writer, chunked=False)

    error = await _refused(fetcher, await raw_server(respond))
    assert "over the 256 KB limit" in error.reason


async def test_a_small_length_beside_an_endless_chunked_body(
    raw_server: Callable[[RawHandler], Awaitable[str]], fetcher: Fetcher
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        await _endless_body(writer, chunked=True)

    error = await _refused(fetcher, await raw_server(respond))
    assert "not valid HTTP" in error.reason  # refused at once, not after the time budget


async def test_a_length_larger_than_the_body(
    raw_server: Callable[[RawHandler], Awaitable[str]], fetcher: Fetcher
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n" + IMAGE[:100])
        await writer.drain()

    error = await _refused(fetcher, await raw_server(respond))
    assert "broke during the download" in error.reason


async def test_a_response_that_is_not_http(
    raw_server: Callable[[RawHandler], Awaitable[str]], fetcher: Fetcher
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    error = await _refused(fetcher, await raw_server(respond))
    assert error.reason == "127.0.0.1 sent an answer that is not valid HTTP"
