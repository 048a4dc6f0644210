"""Ask an OpenAI GPT Image model for the merged picture (``images.edit``).

``Generator.generate`` checks the request against the capability table, sends the images as
named files with their MIME types, streams partial previews to a callback when the model
streams, retries what is worth retrying, and turns every failure into a ``bot.errors`` type
whose message a chat user can act on. The ``openai`` package is imported on first use only,
so paths that never generate (``mergebot merge --dry-run``) do not pay for it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .capabilities import ModelCaps, caps_for, check_request
from .errors import (
    AuthFailed,
    ContentBlocked,
    GenerationError,
    GenerationTimeout,
    ImageRejected,
    QuotaExhausted,
    RateLimited,
    ServiceUnavailable,
)
from .identity import load_salt, safety_identifier
from .model import MergeOptions, Origin, Usage
from .redact import Redactor
from .settings import Settings

if TYPE_CHECKING:
    from datetime import datetime

    from openai import AsyncOpenAI

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
INPUT_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
MAX_AREA_BYTES = 4 * 2**20  # the SDK: the mask "must be a valid PNG file, less than 4MB"
API_MESSAGE_MAX_CHARS = 300
_SAFETY_VIOLATIONS = re.compile(r"safety_violations=\[([^\]]*)\]")
_RETRYABLE_STATUS = frozenset({408, 409})


@dataclass(frozen=True)
class InputImage:
    """One file for the API: a name with an extension, the bytes, and their MIME type."""

    name: str
    data: bytes
    mime: str  # "image/png" | "image/jpeg" | "image/webp"


@dataclass(frozen=True)
class EditArea:
    """Where a region edit may change image 1: ``param`` is ``mask`` (a PNG transparent there) or
    ``markup`` (a transparent overlay marking it), as the model takes (``ModelCaps.edit_area``)."""

    param: str
    image: InputImage


@dataclass(frozen=True)
class Generated:
    """What the model made."""

    images: tuple[bytes, ...]
    output_format: str
    usage: Usage | None  # None when the API reported none (the cost cap then charges the estimate)
    model: str
    elapsed_s: float
    partials: int  # partial previews received while streaming


PartialSink = Callable[[int, bytes], Awaitable[None]]  # (partial_index, image bytes)


class _Retry(Exception):
    """An attempt failed in a way worth another try, after ``delay`` seconds when given."""

    def __init__(self, error: GenerationError, delay: float | None) -> None:
        super().__init__(error.user_message)
        self.error = error
        self.delay = delay


class Generator:
    """Calls ``images.edit`` on an ``AsyncOpenAI`` client created on first use.

    ``max_retries`` counts extra attempts after server errors, connection failures and short
    rate limits; ``backoff_s`` is the first pause (doubled each time, with jitter). A rate limit
    whose Retry-After is longer than ``max_retry_after_s`` is reported at once instead of waited
    out, and ``insufficient_quota``, bad requests and refused keys are never retried.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 20.0,
    ) -> None:
        self._settings = settings
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._client: AsyncOpenAI | None = None
        self._salt: bytes | None = None
        key = settings.openai_api_key
        self._redactor = Redactor([key.reveal()] if key is not None else [])

    def _openai(self) -> AsyncOpenAI:
        if self._client is None:
            key = self._settings.openai_api_key
            if key is None:
                raise AuthFailed("No OpenAI API key is set: set OPENAI_API_KEY")
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=key.reveal(),
                # Passed explicitly so the SDK never falls back to reading OPENAI_BASE_URL itself:
                # settings are the one place configuration comes from.
                base_url=self._settings.openai_base_url or DEFAULT_BASE_URL,
                timeout=self._settings.limits.job_timeout_s,
                max_retries=0,  # retries are ours: the SDK would also retry insufficient_quota
            )
        return self._client

    async def client(self) -> AsyncOpenAI:
        """The client, made on first use. The SDK is imported on a thread: the import takes about a
        second (several under load), and on the event loop it would hold up every chat event."""
        if self._client is None and self._settings.openai_api_key is not None:
            # Through the import system even when another merge started the import: it waits for it.
            await asyncio.to_thread(importlib.import_module, "openai")
        return self._openai()

    async def aclose(self) -> None:
        """Close the HTTP client, if one was made."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def generate(
        self,
        images: Sequence[InputImage],
        prompt: str,
        options: MergeOptions,
        on_partial: PartialSink | None = None,
        *,
        person: Origin | None = None,
        area: EditArea | None = None,
    ) -> Generated:
        """Send ``images`` and ``prompt`` (already built, legend included) with ``options``.

        ``person`` (who asked) is sent as a salted ``safety_identifier``, never as the raw id;
        ``area`` (a region edit) limits the edit of image 1.

        Raises ``bot.errors.InputError`` subclasses before any call when the model would refuse
        the request, and ``GenerationError`` subclasses when the call fails.
        """
        caps, files = check_call(images, prompt, options, area)
        client = await self.client()
        timeout_s = self._settings.limits.job_timeout_s
        started = time.monotonic()
        identifier = safety_identifier(person, self._safety_salt()) if person is not None else None
        attempt = _Attempt(
            client, files, prompt, options, caps, self._settings.partial_images, on_partial, identifier, self._redactor
        )
        attempt.area = area
        try:
            async with asyncio.timeout(timeout_s):
                images_out, output_format, usage = await self._with_retries(attempt, started + timeout_s)
        except TimeoutError:
            raise GenerationTimeout(_timeout_message(timeout_s)) from None
        elapsed = time.monotonic() - started
        log.info(
            "generated %d image(s) with %s in %.1f s (%d partials, %d output tokens)",
            len(images_out),
            options.model,
            elapsed,
            attempt.partials,
            -1 if usage is None else usage.output_tokens,
        )
        return Generated(images_out, output_format, usage, options.model, elapsed, attempt.partials)

    def _safety_salt(self) -> bytes:
        if self._salt is None:
            self._salt = load_salt(self._settings)
        return self._salt

    async def _with_retries(self, attempt: _Attempt, deadline: float) -> tuple[tuple[bytes, ...], str, Usage | None]:
        for number in range(self._max_retries + 1):
            try:
                return await attempt.run(self._settings.limits.job_timeout_s)
            except _Retry as retry:
                delay = retry.delay
                if delay is None:
                    delay = self._backoff_s * (2**number) * (1 - 0.25 * random.random())
                # A preview already shown means the answer was under way: a retry would restart it.
                last_try = number == self._max_retries or attempt.partials > 0
                too_long = retry.delay is not None and retry.delay > self._max_retry_after_s
                if last_try or too_long or time.monotonic() + delay >= deadline:
                    raise retry.error from retry.__cause__
                log.warning(
                    "image request failed (%s); retry %d in %.2f s",
                    retry.error.user_message,
                    number + 1,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")


class _Attempt:
    """One ``images.edit`` call and the reading of its answer."""

    def __init__(
        self,
        client: AsyncOpenAI,
        files: list[tuple[str, bytes, str]],
        prompt: str,
        options: MergeOptions,
        caps: ModelCaps,
        partial_images: int,
        on_partial: PartialSink | None,
        safety_identifier: str | None,
        redactor: Redactor,
    ) -> None:
        self.client = client
        self.files = files
        self.prompt = prompt
        self.options = options
        self.stream = caps.streams and options.n == 1
        self.partial_images = caps.partial_images(partial_images)
        self.on_partial = on_partial
        self.safety_identifier = safety_identifier
        self.redactor = redactor
        self.partials = 0
        self.area: EditArea | None = None

    def _params(self) -> dict[str, Any]:
        options = self.options
        params: dict[str, Any] = {
            "image": self.files[0] if len(self.files) == 1 else self.files,
            "prompt": self.prompt,
            "model": options.model,
            "n": options.n,
            "size": options.size,
            "quality": options.quality,
            "background": options.background,
            "output_format": options.output_format,
        }
        if options.input_fidelity is not None:
            params["input_fidelity"] = options.input_fidelity
        if self.safety_identifier is not None:
            params["safety_identifier"] = self.safety_identifier
        if self.area is not None:
            params[self.area.param] = _as_file(self.area.image)
        return params

    async def run(self, timeout_s: float) -> tuple[tuple[bytes, ...], str, Usage | None]:
        import openai

        try:
            if self.stream:
                return await self._streamed()
            response = await self.client.images.edit(**self._params(), stream=False)
        except openai.APIError as exc:
            raise _classify(exc, timeout_s, self.redactor) from exc
        if not response.data:
            raise GenerationError("The image model answered without an image. Try again.")
        images = tuple(_decoded(item.b64_json) for item in response.data)
        output_format = response.output_format or self.options.output_format
        return images, output_format, _usage(response.usage)

    async def _streamed(self) -> tuple[tuple[bytes, ...], str, Usage | None]:
        stream = await self.client.images.edit(**self._params(), stream=True, partial_images=self.partial_images)
        async with stream:
            async for event in stream:
                if event.type == "image_edit.partial_image":
                    self.partials += 1
                    await self._report_partial(event.partial_image_index, _decoded(event.b64_json))
                elif event.type == "image_edit.completed":
                    return (_decoded(event.b64_json),), event.output_format, _usage(event.usage)
        raise GenerationError("The image model stopped before sending the picture. Try again.")

    async def _report_partial(self, index: int, data: bytes) -> None:
        if self.on_partial is None:
            return
        try:
            await self.on_partial(index, data)
        except Exception:  # a failed preview must not cost the merge
            log.warning("partial preview %d could not be delivered", index, exc_info=True)


def check_call(
    images: Sequence[InputImage], prompt: str, options: MergeOptions, area: EditArea | None = None
) -> tuple[ModelCaps, list[tuple[str, bytes, str]]]:
    """Everything the API would refuse, checked before any call; the files as the SDK takes them.

    The CLI's ``--dry-run`` runs this same check, so a dry run that passes is a call that would go out.
    """
    caps = caps_for(options.model)
    check_request(replace(options, prompt=prompt), len(images))
    if area is not None and area.param != caps.edit_area:
        raise ValueError(f"{options.model} takes a region as {caps.edit_area}, not {area.param}")
    if area is not None and (area.image.mime != "image/png" or len(area.image.data) >= MAX_AREA_BYTES):
        raise ValueError(f"the {area.param} must be a PNG under {MAX_AREA_BYTES} bytes")
    return caps, [_as_file(image) for image in images]


def _as_file(image: InputImage) -> tuple[str, bytes, str]:
    if image.mime not in INPUT_MIME_TYPES:
        raise ImageRejected(image.name, "the image model takes PNG, JPEG or WebP files only")
    if not image.data:
        raise ImageRejected(image.name, "the file is empty")
    return image.name, image.data, image.mime


def _decoded(b64: str | None) -> bytes:
    if not b64:
        raise GenerationError("The image model answered without image data. Try again.")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise GenerationError("The image model sent an image that could not be read. Try again.") from None


def _usage(usage: Any) -> Usage | None:
    """Our ``Usage`` from the SDK's (``ImagesResponse.usage`` or the completed event's), None without one."""
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    return Usage(
        input_tokens=int(usage.input_tokens),
        input_image_tokens=int(getattr(details, "image_tokens", 0) or 0),
        input_text_tokens=int(getattr(details, "text_tokens", 0) or 0),
        output_tokens=int(usage.output_tokens),
        total_tokens=int(usage.total_tokens),
    )


def _timeout_message(timeout_s: float) -> str:
    return (
        f"The image model did not answer within {timeout_s:g} s. Try again, "
        "perhaps with a lower quality or a smaller size."
    )


def sanitize_api_message(message: str, redactor: Redactor | None = None) -> str:
    """An API error message fit for a chat: one line, capped, with the key and anything key-like masked."""
    text = (redactor or Redactor()).mask(message)
    text = " ".join(text.split())
    if len(text) > API_MESSAGE_MAX_CHARS:
        text = text[: API_MESSAGE_MAX_CHARS - 1].rstrip() + "…"
    return text


def safety_categories(message: str) -> tuple[str, ...]:
    """The categories in a moderation message's ``safety_violations=[a, b]``."""
    match = _SAFETY_VIOLATIONS.search(message)
    if match is None:
        return ()
    return tuple(c.strip() for c in match.group(1).split(",") if c.strip())


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            parsed = _http_date(raw) if name == "retry-after" else None
            if parsed is None:
                continue
            seconds = parsed.timestamp() - time.time()
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    return None


def _http_date(raw: str) -> datetime:
    import email.utils  # only a refused call's Retry-After needs it: kept out of every start-up

    return email.utils.parsedate_to_datetime(raw)


def _body_message(body: object, fallback: str) -> str:
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return message
    return fallback


def _content_blocked(message: str) -> ContentBlocked:
    categories = safety_categories(message)
    named = f" (flagged: {', '.join(categories)})" if categories else ""
    return ContentBlocked(
        f"OpenAI's safety system refused this merge{named}. "
        "Change the prompt or leave out the image that may have triggered it, then try again.",
        categories,
    )


def _classify(exc: Exception, timeout_s: float, redactor: Redactor) -> GenerationError | _Retry:
    """The user-facing error for an ``openai`` exception, wrapped in ``_Retry`` when worth retrying."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return _Retry(GenerationTimeout(_timeout_message(timeout_s)), None)
    if isinstance(exc, openai.APIConnectionError):
        return _Retry(ServiceUnavailable("The OpenAI API could not be reached. Try again in a minute."), None)
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc, redactor)
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        message = _body_message(exc.body, exc.message)
        if exc.code == "moderation_blocked":
            return _content_blocked(message)
        return GenerationError(f"The image model failed: {sanitize_api_message(message, redactor)} Try again.")
    return GenerationError("The image model failed unexpectedly. Try again.")


def _classify_status(exc: Any, redactor: Redactor) -> GenerationError | _Retry:
    status: int = exc.status_code
    code = exc.code or ""
    error_type = exc.type or ""
    message = _body_message(exc.body, exc.message)
    if status == 400 and code == "moderation_blocked":
        return _content_blocked(message)
    if status == 401:
        return AuthFailed("OpenAI refused the API key. The bot's operator should check OPENAI_API_KEY.")
    if status == 403:
        return AuthFailed(
            f"OpenAI refused access: {sanitize_api_message(message, redactor)} The bot's operator should check the "
            "account's access to this model."
        )
    if status == 429 and (code == "insufficient_quota" or error_type == "insufficient_quota"):
        return QuotaExhausted(
            "The OpenAI account behind this bot is out of credit. Ask the bot's operator to add credit, then try again."
        )
    if status == 429:
        retry_after = retry_after_seconds(exc.response.headers)
        when = f"in {max(1, round(retry_after))} s" if retry_after is not None else "in a minute"
        return _Retry(
            RateLimited(f"OpenAI is rate-limiting this bot right now. Try again {when}.", retry_after),
            retry_after,
        )
    if status >= 500 or status in _RETRYABLE_STATUS:
        return _Retry(
            ServiceUnavailable(f"OpenAI's image service kept failing (HTTP {status}). Try again in a few minutes."),
            None,
        )
    return GenerationError(f"OpenAI refused the request: {sanitize_api_message(message, redactor)}")
