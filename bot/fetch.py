"""The one safe downloader for reference images.

Every download the core makes goes through ``Fetcher.fetch``:

- only hosts the settings allow (https, or plain http to a listed loopback host),
  checked again at every redirect, which is followed by hand (at most five);
- the caller's headers (platform credentials) go only to the host they were
  given for: a redirect to another host drops them all;
- a byte cap checked against Content-Length before reading and again while the
  body streams, so a missing or lying length cannot exhaust memory;
- a time budget per link covering connect, redirects and body;
- the bytes must be an image by their magic bytes; a web page instead of an
  image (a login page) is reported as such, with the adapter's hint on how to
  grant access.

Messages never carry header values, and links in them lose their query string
(Discord CDN links carry signatures there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import FetchError
from .model import ImageSource
from .settings import Settings
from .sniff import looks_like_html, sniff

if TYPE_CHECKING:  # aiohttp (and its ssl set-up, 0.1 s) is imported only when something is downloaded
    import aiohttp
    from yarl import URL

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
CONNECTIONS = 32
CONNECTIONS_PER_HOST = 8
DEFAULT_HEADERS = {
    "User-Agent": "mergebot (+https://github.com/mergebot/mergebot)",
    "Accept": "image/*",
    "Accept-Encoding": "identity",  # images are compressed already; the cap still holds if a server ignores this
}
SUPPORTED = "PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC or AVIF"
_UNKNOWN_HOST = "an unknown host"


class _PageInsteadOfImage(FetchError):
    """A web page came back where an image was expected: the link needs access the bot lacks."""


class Fetcher:
    """Downloads image sources safely, on one reused aiohttp session.

    A session passed in is used as is and left open by ``aclose``; without one,
    the fetcher makes its own on first use (no cookies kept, no proxy from the
    environment) and closes it in ``aclose``.
    """

    def __init__(self, settings: Settings, session: aiohttp.ClientSession | None = None) -> None:
        self.settings = settings
        self._session = session
        self._owns_session = session is None
        self._closed = False

    async def fetch(self, source: ImageSource) -> bytes:
        """The image bytes of ``source``: its ``data``, or a download of ``url`` then ``fallback_url``.

        Raises ``FetchError`` when no link gives an image, or when given ``data``
        is not an image or is over the byte cap.
        """
        if source.data is not None:
            return self._check_given(source, source.data)
        if source.url is None:
            raise FetchError(source.name, "has neither data nor a link")
        urls = [source.url]
        if source.fallback_url and source.fallback_url != source.url:
            urls.append(source.fallback_url)
        errors: list[FetchError] = []
        for url in urls:
            try:
                return await self._fetch_url(source, url)
            except FetchError as exc:
                log.info("download of %s from %s failed: %s", source.name, _display(url), exc.reason)
                errors.append(exc)
        # A page-instead-of-image error tells the person how to fix access, so it wins.
        raise next((e for e in errors if isinstance(e, _PageInsteadOfImage)), errors[-1])

    async def aclose(self) -> None:
        """Close the session this fetcher made; a session passed in stays open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def _check_given(self, source: ImageSource, data: bytes) -> bytes:
        cap = self.settings.limits.max_image_bytes
        if len(data) > cap:
            raise FetchError(source.name, f"the file is {_size(len(data))}, over the {_size(cap)} limit")
        if sniff(data) is None:
            what = "a text or web document" if looks_like_html(data) else "not an image the bot can read"
            raise FetchError(source.name, f"the file is {what} (use {SUPPORTED})")
        return data

    def _session_for_use(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the fetcher is closed")
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=CONNECTIONS_PER_HOST),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def _fetch_url(self, source: ImageSource, url: str) -> bytes:
        import aiohttp

        budget = self.settings.limits.fetch_timeout_s
        host = _host(url)
        try:
            async with asyncio.timeout(budget):
                return await self._follow(source, url)
        except FetchError:
            raise
        except TimeoutError:
            reason = f"the download from {host} took longer than {budget:g} s"
        except aiohttp.ClientPayloadError:
            reason = f"the connection to {host} broke during the download"
        except aiohttp.ClientSSLError:
            reason = f"the secure connection to {host} failed"
        except aiohttp.ClientConnectorError:
            reason = f"could not connect to {host}"
        except aiohttp.ClientResponseError:
            # Redirects and statuses are handled above, so this is a malformed answer.
            reason = f"{host} sent an answer that is not valid HTTP"
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            reason = f"the connection to {host} was lost"
        except (aiohttp.ClientError, ValueError) as exc:
            # The text of these errors can hold the full link; only the type is safe to show.
            reason = f"the download from {host} failed ({type(exc).__name__})"
        raise FetchError(source.name, reason)

    async def _follow(self, source: ImageSource, url: str) -> bytes:
        import aiohttp
        from multidict import CIMultiDict
        from yarl import URL

        session = self._session_for_use()
        headers: Mapping[str, str] = source.headers
        self._check_allowed(source, url, redirected=False)
        current = URL(url)
        connect = min(CONNECT_TIMEOUT_S, self.settings.limits.fetch_timeout_s)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, connect=connect)
        for hop in range(MAX_REDIRECTS + 1):
            if hop:
                self._check_allowed(source, str(current), redirected=True)
            log.debug("fetching %s for %s", _display(str(current)), source.name)
            request_headers = CIMultiDict(DEFAULT_HEADERS)
            request_headers.update(headers)
            async with session.get(
                current, headers=request_headers, allow_redirects=False, timeout=timeout
            ) as response:
                if response.status in REDIRECT_STATUSES:
                    target = _redirect_target(source, current, response)
                    if _origin(target) != _origin(current) and headers:
                        log.debug("redirect leaves %s: dropping the source's headers", current.host)
                        headers = {}
                    current = target
                    continue
                if not 200 <= response.status < 300:
                    # The standard phrase, not the server's own text, which is shown in chat.
                    reason = f" {_phrase(response.status)}".rstrip()
                    raise FetchError(
                        source.name,
                        f"{_host(str(current))} answered HTTP {response.status}{reason}",
                    )
                data = await self._read_capped(source, response)
            return self._check_downloaded(source, data, str(current))
        raise FetchError(source.name, f"the link redirected more than {MAX_REDIRECTS} times")

    def _check_allowed(self, source: ImageSource, url: str, *, redirected: bool) -> None:
        host = _host(url)
        if host != _UNKNOWN_HOST and self.settings.media_host_allowed(url):
            return
        where = _display(url)
        if host == _UNKNOWN_HOST and not redirected:
            raise FetchError(source.name, "the link is not a web address the bot can download from")
        if redirected:
            raise FetchError(source.name, f"the link redirected to {where}, which is not an allowed media host")
        raise FetchError(source.name, f"downloads from {where} are not allowed (see MERGEBOT_MEDIA_HOSTS)")

    async def _read_capped(self, source: ImageSource, response: aiohttp.ClientResponse) -> bytes:
        cap = self.settings.limits.max_image_bytes
        declared = response.content_length
        if declared is not None and declared > cap:
            raise FetchError(source.name, f"the file is {_size(declared)}, over the {_size(cap)} limit")
        body = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            body += chunk
            if len(body) > cap:
                raise FetchError(source.name, f"the file is over the {_size(cap)} limit")
        return bytes(body)

    def _check_downloaded(self, source: ImageSource, data: bytes, url: str) -> bytes:
        if sniff(data) is not None:
            return data
        if not data:
            raise FetchError(source.name, f"the download from {_host(url)} was empty")
        if looks_like_html(data):
            hint = f" {source.auth_hint}" if source.auth_hint else ""
            raise _PageInsteadOfImage(
                source.name,
                f"{_host(url)} sent a web page instead of the image; the link probably needs a login "
                f"or a permission the bot does not have.{hint}",
            )
        raise FetchError(source.name, f"the download is not an image the bot can read (use {SUPPORTED})")


def _redirect_target(source: ImageSource, current: URL, response: aiohttp.ClientResponse) -> URL:
    from yarl import URL

    location = response.headers.get("Location")
    if not location:
        raise FetchError(source.name, f"{_host(str(current))} redirected without saying where to")
    try:
        return current.join(URL(location))
    except ValueError:
        raise FetchError(source.name, f"{_host(str(current))} redirected to an invalid link") from None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme, (url.host or "").lower(), url.port)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or _UNKNOWN_HOST
    except ValueError:
        return _UNKNOWN_HOST


def _display(url: str) -> str:
    """The link without credentials, query or fragment: safe for messages and logs."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid link"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    path = parts.path if len(parts.path) <= 120 else parts.path[:117] + "..."
    return f"{parts.scheme}://{host}{port}{path}"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if n >= 1024:
        return f"{n / 1024:.1f} KB".replace(".0 KB", " KB")
    return f"{n} bytes"
