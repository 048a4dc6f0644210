"""A local, protocol-faithful double of OpenAI's images API, for tests.

An aiohttp server on 127.0.0.1 (random port) that the real ``openai`` client talks
to unmodified. It plays::

    POST /v1/images/edits        multipart in; JSON (ImagesResponse) or SSE out
    POST /v1/images/generations  JSON in; JSON or SSE out

Use it as an async context manager, or through the ``openai_double`` fixture::

    from tests.doubles.openai_double import OpenAIDouble, openai_double  # noqa: F401 (fixture)

    async with OpenAIDouble() as api:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=api.base_url)
        ...
        request = api.requests[-1]           # RecordedRequest
        request.fields["prompt"]             # form fields, as sent (strings)
        request.params["n"]                  # fields coerced to the spec's types (int, bool)
        request.image_field                  # "image" (one file) or "image[]" (several)
        [(f.part_name, f.filename, f.content_type, f.width, f.height) for f in request.images]
        request.events                       # SSE event names sent, e.g. [..."image_edit.completed"]
        request.status                       # what the double answered (200, 400, ...)

Point a ``Settings`` at it with ``Settings(openai_base_url=api.base_url, openai_api_key=Secret("sk-test"))``
or an environment mapping ``{"OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": "sk-test"}``.

What it checks, like the real API:

- ``Authorization: Bearer <key>`` is present (else 401).
- The multipart body: ``image`` (one file) or ``image[]`` (several, at most 16), each with a
  filename and an ``image/png``, ``image/jpeg`` or ``image/webp`` content type; bare bytes (the
  SDK sends ``upload`` / ``application/octet-stream``) are refused with 400, like the real API.
  Each file is decoded with Pillow; one that is not an image is refused with 400.
- The fields against ``CreateImageEditRequest`` (``CreateImageRequest`` for generations) from
  ``tests/specs/openai-openapi.yaml`` with jsonschema, after coercing form strings to the
  schema's integer and boolean types. Unknown fields are refused with 400 ``unknown_parameter``.
  The spec predates the newest models, so a small overlay (``SPEC_OVERLAY_NOTE``) admits what the
  installed SDK documents: qualities ``xhigh``/``max`` and any ``WxH`` size in answers. ``n``
  outside 1 to 10 is the schema's 400 ``invalid_value``.
- What the SDK documents per model: ``input_fidelity`` on the ``gpt-image-2`` family is 400
  ``unsupported_parameter``; on ``gpt-image-1-mini`` anything but ``low`` is 400 ``invalid_value``.

What it answers: deterministic Pillow images (PNG, JPEG or WebP, as ``output_format`` asks) of the
requested size (``auto`` -> 1024x1024), ``n`` of them, with a ``usage`` block. With ``stream=true``
it sends ``partial_images`` events ``image_edit.partial_image`` and then ``image_edit.completed``
(``image_generation.*`` for generations). Everything it sends is validated against the spec's
response schemas before it goes out (a mismatch is a bug in the double and raises in the test).

Knobs (each failure is consumed by one request; ``times`` covers the client's retries)::

    api.fail_next("moderation_blocked", categories=("sexual",))  # 400 code moderation_blocked
    api.fail_next("invalid_api_key")                               # 401
    api.fail_next("rate_limit", retry_after=0.01, times=3)         # 429 + Retry-After header
    api.fail_next("insufficient_quota")                            # 429 code insufficient_quota
    api.fail_next("server_error", times=3)                         # 500
    api.fail_next("bad_request", message="Invalid size ...")       # 400 invalid_request_error
    api.fail_next("slow", delay=5.0)                               # answers normally after a delay
                                                                   # (cut short when the double closes)
    api.fail_next("stream_moderation")                             # stream: the partials, then an error event
    api.reset()                                                    # forget requests and pending failures

``api.usage_for(request)`` gives the usage the double reports, for cost assertions; ``api.omit_usage = True``
leaves ``usage`` out of non-streamed answers (the spec makes it optional there, required in streamed ones);
``OpenAIDouble(chunk_delay=0.05)`` pauses between streamed events, to watch progress;
``OpenAIDouble(latency_s=(1.0, 3.0))`` takes that long per call. For several clients at once (replicas):
``api.in_flight`` / ``api.max_in_flight`` count the edits being answered now / at most at once, each
record has ``started`` and ``ended`` (``time.monotonic``) and ``cut`` (its client closed the connection
mid-answer, e.g. was killed; the double stops answering it at once), ``api.in_flight_at(t)`` lists them.
``api.pending_failures`` counts failures not yet consumed. Error bodies follow the API's
``{"error": {message, type, param, code}}``; moderation messages end with ``safety_violations=[...]``
like the real ones.

Region edits: ``mask`` and ``markup`` are checked as the API states them (PNG under 4 MB with an
alpha channel and a fully transparent area, the first image's exact size; ``markup`` only on
GPT Image 2.5 models, never with ``mask``); ``request.mask`` and ``request.markup`` are the files
as they arrived (``RecordedFile``), for tests to compare with the region they drew.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import functools
import hashlib
import io
import json
import math
import random
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
import pytest_asyncio
import yaml
from aiohttp import BodyPartReader, web
from PIL import Image, ImageDraw

from tests.doubles.server import serve_locally
from tests.doubles.specs import spec_path

SPEC_OVERLAY_NOTE = (
    "The pinned spec (2026-08-21) predates gpt-image-2.5/2.6: requests may also use quality xhigh/max "
    "and the SDK's newer fields (safety_identifier: a string of at most 64 characters); answers may "
    "carry any WxH size and the newer qualities."
)
ACCEPTED_MIME = ("image/png", "image/jpeg", "image/webp")
MAX_IMAGES = 16
CLIENT_CHECK_S = 0.05  # how often a held answer checks that its client is still connected
# Fields the installed SDK (openai 3.54) documents for images.edit that the pinned spec lacks.
NEWER_EDIT_FIELDS = frozenset({"complexity", "frame_count", "frame_duration_ms", "markup", "safety_identifier", "svg"})
NEWER_QUALITIES = ("xhigh", "max")
EDIT_AREA_PARTS = ("mask", "markup")
MAX_MASK_BYTES = 4 * 2**20  # the spec: the mask "must be a valid PNG file, less than 4MB"
MARKUP_MODELS = ("gpt-image-2.5-",)  # the SDK (3.57): markup "Supports GPT Image 2.5. Cannot be combined with mask."

FailureKind = Literal[
    "moderation_blocked",
    "invalid_api_key",
    "rate_limit",
    "insufficient_quota",
    "server_error",
    "bad_request",
    "slow",
    "stream_moderation",
]


# --------------------------------------------------------------------------- spec


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed OpenAI document, loaded once per process (it is about 3 MB)."""
    loader = getattr(yaml, "CLoader", yaml.SafeLoader)
    with spec_path("openai-openapi.yaml").open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)
    return spec


@functools.cache
def _overlaid_schemas() -> dict[str, Any]:
    """The spec's schemas with the overlay described by ``SPEC_OVERLAY_NOTE``."""
    schemas: dict[str, Any] = dict(load_spec()["components"]["schemas"])
    for name in ("CreateImageEditRequest", "CreateImageRequest"):
        patched = copy.deepcopy(schemas[name])
        quality = patched["properties"]["quality"]
        quality["enum"] = [*quality["enum"], *NEWER_QUALITIES]
        # as the spec's other requests and the SDK's images.edit define it: at most 64 characters
        patched["properties"]["safety_identifier"] = {"type": "string", "maxLength": 64}
        schemas[name] = patched
    for name in (
        "ImagesResponse",
        "ImageEditPartialImageEvent",
        "ImageEditCompletedEvent",
        "ImageGenPartialImageEvent",
        "ImageGenCompletedEvent",
    ):
        patched = copy.deepcopy(schemas[name])
        props = patched["properties"]
        props["size"] = {"type": "string", "pattern": r"^(\d+x\d+|auto)$"}
        props["quality"] = {**props["quality"], "enum": [*props["quality"]["enum"], *NEWER_QUALITIES]}
        schemas[name] = patched
    return schemas


@functools.cache
def spec_validator(schema_name: str) -> jsonschema.protocols.Validator:
    """A jsonschema validator for ``#/components/schemas/<schema_name>`` with every $ref resolvable."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": _overlaid_schemas()}}
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(root)
    return validator


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: Mapping[str, Any] = _overlaid_schemas()[ref.rsplit("/", 1)[-1]]
        return _resolve(resolved)
    return schema


def _schema_types(schema: Mapping[str, Any]) -> set[str]:
    """Every JSON type a (possibly $ref / anyOf) property schema admits."""
    schema = _resolve(schema)
    types: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(declared)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            types |= _schema_types(option)
    return types


def _coerce_form_value(raw: str, prop: Mapping[str, Any] | None) -> Any:
    """A multipart field is text; the API reads it as the type its schema says."""
    if prop is None:
        return raw
    types = _schema_types(prop)
    if "integer" in types and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "number" in types:
        try:
            return float(raw)
        except ValueError:
            pass
    if "boolean" in types and raw in ("true", "false"):
        return raw == "true"
    return raw


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedFile:
    """One file part as it arrived."""

    part_name: str  # "image" or "image[]" (or "mask")
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)
    width: int | None = None  # decoded with Pillow; None when it is not an image
    height: int | None = None
    image_format: str | None = None  # Pillow's name: "PNG", "JPEG", "WEBP"


@dataclass
class RecordedRequest:
    """One request the double received, whatever it answered."""

    path: str
    headers: Mapping[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    files: list[RecordedFile] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    streamed: bool = False
    events: list[str] = field(default_factory=list)  # SSE event names sent, in order
    started: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)
    ended: float | None = None  # when its answer ended or its client went away
    cut: bool = False  # the client went away (closed the connection) before the answer ended

    @property
    def image_field(self) -> str | None:
        names = {f.part_name for f in self.files if f.part_name in ("image", "image[]")}
        return names.pop() if len(names) == 1 else None

    @property
    def images(self) -> list[RecordedFile]:
        return [f for f in self.files if f.part_name in ("image", "image[]")]

    @property
    def mask(self) -> RecordedFile | None:
        """The ``mask`` file as it arrived, if one was sent."""
        return next((f for f in self.files if f.part_name == "mask"), None)

    @property
    def markup(self) -> RecordedFile | None:
        """The ``markup`` file as it arrived, if one was sent."""
        return next((f for f in self.files if f.part_name == "markup"), None)


@dataclass
class _Failure:
    kind: FailureKind
    retry_after: float
    delay: float
    categories: tuple[str, ...]
    message: str | None


class _Refusal(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """An ``ErrorResponse`` as the API sends it."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --------------------------------------------------------------------------- images


@functools.lru_cache(maxsize=64)
@functools.lru_cache(maxsize=64)
def render_image(width: int, height: int, output_format: str, seed: int, detail: int = 8) -> bytes:
    """A deterministic picture: same arguments, same bytes. ``detail`` grows with each partial."""
    palette = ((214, 96, 77), (72, 148, 120), (60, 96, 180), (230, 190, 80), (150, 90, 170))
    mode = "RGBA" if output_format in ("png", "webp") else "RGB"
    image = Image.new(mode, (width, height), palette[seed % len(palette)])
    draw = ImageDraw.Draw(image)
    state = seed or 1
    for index in range(detail):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        x0, y0 = state % width, (state >> 8) % height
        radius = max(4, min(width, height) // (4 + index))
        draw.ellipse((x0 - radius, y0 - radius, x0 + radius, y0 + radius), fill=palette[(seed + index + 1) % 5])
    buffer = io.BytesIO()
    pil_format = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[output_format]
    if pil_format == "PNG":
        image.save(buffer, pil_format, compress_level=1)
    else:
        image.save(buffer, pil_format, quality=80)
    return buffer.getvalue()


def _size_of(size: str | None) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", size or "")
    return (int(match[1]), int(match[2])) if match else (1024, 1024)


_OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}


def usage_for_params(params: Mapping[str, Any], images: list[RecordedFile]) -> dict[str, Any]:
    """Deterministic token usage shaped like ``ImagesUsage``: text ~ chars/4, images by 512 px tiles,
    output by quality and area (the real figures for 1024x1024 at each quality)."""
    text_tokens = max(1, math.ceil(len(str(params.get("prompt", ""))) / 4))
    image_tokens = 0
    for item in images:
        w, h = item.width or 1024, item.height or 1024
        scale = min(1.0, 2048 / max(w, h))
        tiles = math.ceil(w * scale / 512) * math.ceil(h * scale / 512)
        image_tokens += 65 + 129 * tiles
    width, height = _size_of(params.get("size"))
    quality = _resolved_quality(params)
    per_image = round(_OUTPUT_TOKENS_1024[quality] * width * height / (1024 * 1024))
    output_tokens = per_image * int(params.get("n") or 1)
    input_tokens = text_tokens + image_tokens
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
    }


def _resolved_quality(params: Mapping[str, Any]) -> str:
    quality = params.get("quality") or "auto"
    return "medium" if quality == "auto" else str(quality)


def _resolved_size(params: Mapping[str, Any]) -> str:
    width, height = _size_of(params.get("size"))
    return f"{width}x{height}"


# --------------------------------------------------------------------------- server


class OpenAIDouble:
    """The images API on 127.0.0.1. See the module docstring for the whole API."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        chunk_delay: float = 0.0,
        latency_s: tuple[float, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.host = host
        self.chunk_delay = chunk_delay  # pause between streamed events, to watch progress
        # How long one generation takes, drawn evenly from (low, high) per request: a stream spreads
        # it over its events (partials arrive as the picture forms), a plain answer waits it whole.
        self.latency_s = latency_s
        self._latency_rng = random.Random(seed)
        self.latencies: list[float] = []
        self.omit_usage = False  # answer non-streamed requests without a usage block
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0  # requests being answered right now (a client that went away no longer counts)
        self.max_in_flight = 0  # the most answered at once since the start (or the last reset)
        self._failures: deque[_Failure] = deque()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()  # cuts "slow" answers short so close() never waits on them

    # -- lifecycle

    async def start(self) -> OpenAIDouble:
        load_spec()  # pay the parse before the first request, not inside a client timeout
        app = web.Application(client_max_size=64 * 1024 * 1024 * MAX_IMAGES)
        app.router.add_post("/v1/images/edits", self._edits)
        app.router.add_post("/v1/images/generations", self._generations)
        self._runner, self._port = await serve_locally(app, self.host)
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OpenAIDouble:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("OpenAIDouble is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """What to give ``AsyncOpenAI(base_url=...)`` or ``OPENAI_BASE_URL``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- knobs

    def fail_next(
        self,
        kind: FailureKind,
        *,
        times: int = 1,
        retry_after: float = 1.0,
        delay: float = 2.0,
        categories: tuple[str, ...] = ("sexual",),
        message: str | None = None,
    ) -> None:
        """Make the next ``times`` requests fail (or stall) as ``kind``."""
        for _ in range(times):
            self._failures.append(_Failure(kind, retry_after, delay, categories, message))

    def _latency(self) -> float:
        """Draw one request's latency (kept in ``latencies``, in the order requests came)."""
        if self.latency_s is None:
            return 0.0
        latency = self._latency_rng.uniform(*self.latency_s)
        self.latencies.append(latency)
        return latency

    async def _pause(self, seconds: float, request: web.Request | None = None) -> None:
        """Wait ``seconds`` of a request's latency; cut short when the double closes, and ended
        (``_ClientGone``) as soon as ``request``'s client closes its connection (it was killed)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._closing.is_set():
            if request is not None and _client_gone(request):
                raise _ClientGone
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), min(left, CLIENT_CHECK_S))

    def in_flight_at(self, moment: float) -> list[RecordedRequest]:
        """The requests being answered at ``moment`` (``time.monotonic``)."""
        return [r for r in self.requests if r.started <= moment and (r.ended is None or r.ended > moment)]

    def reset(self) -> None:
        self.requests.clear()
        self.max_in_flight = self.in_flight
        self._failures.clear()
        self.omit_usage = False

    @property
    def pending_failures(self) -> int:
        return len(self._failures)

    def usage_for(self, request: RecordedRequest) -> dict[str, Any]:
        """The usage block the double reported (or would report) for ``request``."""
        return usage_for_params(request.params, request.images)

    # -- handlers

    async def _edits(self, request: web.Request) -> web.StreamResponse:
        record = RecordedRequest(path=request.path, headers=dict(request.headers))
        self.requests.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._check_auth(request)
            await self._read_multipart(request, record)
            record.params = self._validated_edit_params(record)
            return await self._answer(request, record, "image_edit")
        except _Refusal as refusal:
            record.status = refusal.status
            return web.json_response(refusal.body, status=refusal.status, headers=refusal.headers)
        except Exception:
            if not _client_gone(request):
                raise
            # However the read or the write failed, the client went away (cancelled, or killed).
            record.cut = True
            return web.Response(status=499)  # nobody reads it: the connection is gone
        finally:
            self.in_flight -= 1
            record.ended = time.monotonic()

    async def _generations(self, request: web.Request) -> web.StreamResponse:
        record = RecordedRequest(path=request.path, headers=dict(request.headers))
        self.requests.append(record)
        try:
            self._check_auth(request)
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise _Refusal(
                    400,
                    error_body("We could not parse the JSON body of your request.", "invalid_request_error", None),
                ) from None
            if not isinstance(body, dict):
                raise _Refusal(400, error_body("The body must be a JSON object.", "invalid_request_error", None))
            record.fields = {k: json.dumps(v) for k, v in body.items()}
            record.params = body
            self._validate("CreateImageRequest", body, NEWER_EDIT_FIELDS - {"markup"})
            return await self._answer(request, record, "image_generation")
        except _Refusal as refusal:
            record.status = refusal.status
            return web.json_response(refusal.body, status=refusal.status, headers=refusal.headers)

    @staticmethod
    def _check_auth(request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise _Refusal(
                401,
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                    None,
                ),
            )

    async def _read_multipart(self, request: web.Request, record: RecordedRequest) -> None:
        if not request.content_type.startswith("multipart/form-data"):
            raise _Refusal(
                400,
                error_body(
                    f"Invalid Content-Type header ({request.content_type}), expected multipart/form-data.",
                    "invalid_request_error",
                    None,
                ),
            )
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise _Refusal(400, error_body("Nested multipart is not supported.", "invalid_request_error", None))
            name = part.name or ""
            data = bytes(await part.read())
            if part.filename is None and name not in ("image", "image[]", *EDIT_AREA_PARTS):
                record.fields[name] = data.decode("utf-8")
                continue
            record.files.append(_decoded_file(name, part.filename, part.headers.get("Content-Type"), data))

    def _validated_edit_params(self, record: RecordedRequest) -> dict[str, Any]:
        properties: Mapping[str, Any] = _overlaid_schemas()["CreateImageEditRequest"]["properties"]
        params: dict[str, Any] = {
            name: _coerce_form_value(value, properties.get(name)) for name, value in record.fields.items()
        }
        images = record.images
        fields = {f.part_name for f in images}
        if len(fields) > 1:
            raise _Refusal(
                400,
                error_body("Send either 'image' or 'image[]', not both.", "invalid_request_error", "image"),
            )
        for index, item in enumerate(images):
            param = "image" if item.part_name == "image" else f"image[{index}]"
            if item.filename is None or item.content_type not in ACCEPTED_MIME:
                raise _Refusal(
                    400,
                    error_body(
                        f"Invalid file '{param}': unsupported mimetype ('{item.content_type}'). "
                        "Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                        "invalid_request_error",
                        "unsupported_file_mimetype",
                        param,
                    ),
                )
            if item.width is None:
                raise _Refusal(
                    400,
                    error_body(
                        f"Invalid image file or mode for image {index + 1}, please check your image file.",
                        "invalid_request_error",
                        "invalid_image_file",
                        param,
                    ),
                )
        if images:
            if "image[]" in fields:
                params["image"] = [f"<{f.filename}>" for f in images]
            else:
                params["image"] = f"<{images[0].filename}>"
        for part in EDIT_AREA_PARTS:
            given = [f for f in record.files if f.part_name == part]
            if given:
                params[part] = f"<{given[0].filename}>"
        self._validate("CreateImageEditRequest", params, NEWER_EDIT_FIELDS)
        _check_edit_area(record, params)
        _check_model_rules(params)
        return params

    @staticmethod
    def _validate(schema_name: str, params: Mapping[str, Any], newer_fields: frozenset[str]) -> None:
        schema = _overlaid_schemas()[schema_name]
        known = set(schema["properties"]) | newer_fields
        for name in params:
            if name not in known:
                raise _Refusal(
                    400,
                    error_body(f"Unknown parameter: '{name}'.", "invalid_request_error", "unknown_parameter", name),
                )
        error = jsonschema.exceptions.best_match(spec_validator(schema_name).iter_errors(dict(params)))
        if error is not None:
            param = ".".join(str(p) for p in error.absolute_path) or None
            if error.validator == "required":
                raise _Refusal(
                    400,
                    error_body(
                        f"Missing required parameter: {error.message.split(' ', 1)[0]}.",
                        "invalid_request_error",
                        "missing_required_parameter",
                    ),
                )
            raise _Refusal(
                400,
                error_body(
                    f"Invalid value for '{param}': {error.message}.",
                    "invalid_request_error",
                    "invalid_value",
                    param,
                ),
            )

    async def _answer(self, request: web.Request, record: RecordedRequest, prefix: str) -> web.StreamResponse:
        failure = self._failures.popleft() if self._failures else None
        if failure is not None and failure.kind == "slow":
            await self._pause(failure.delay, request)
            failure = None
        if failure is not None and failure.kind != "stream_moderation":
            raise _refusal_for(failure)
        if record.params.get("stream") is True:
            return await self._stream(request, record, prefix, failure)
        await self._pause(self._latency(), request)
        record.status = 200
        return web.json_response(self._images_response(record))

    def _images_response(self, record: RecordedRequest) -> dict[str, Any]:
        params = record.params
        output_format = str(params.get("output_format") or "png")
        width, height = _size_of(params.get("size"))
        seed = _seed(params)
        count = int(params.get("n") or 1)
        background = params.get("background") or "auto"
        payload = {
            "created": int(time.time()),
            "background": "transparent" if background == "transparent" else "opaque",
            "data": [
                {"b64_json": base64.b64encode(render_image(width, height, output_format, seed + i)).decode("ascii")}
                for i in range(count)
            ],
            "output_format": output_format,
            "quality": _resolved_quality(params),
            "size": _resolved_size(params),
            "usage": usage_for_params(params, record.images),
        }
        if self.omit_usage:
            del payload["usage"]
        spec_validator("ImagesResponse").validate(payload)
        return payload

    def stream_events(self, record: RecordedRequest, prefix: str) -> Iterator[dict[str, Any]]:
        """The events a streamed answer carries, each validated against its spec schema."""
        params = record.params
        output_format = str(params.get("output_format") or "png")
        width, height = _size_of(params.get("size"))
        seed = _seed(params)
        partials = int(params.get("partial_images") or 0)
        common = {
            "created_at": int(time.time()),
            "size": _resolved_size(params),
            "quality": _resolved_quality(params),
            "background": str(params.get("background") or "auto"),
            "output_format": output_format,
        }
        schema_prefix = "ImageEdit" if prefix == "image_edit" else "ImageGen"
        for index in range(partials):
            data = render_image(width, height, output_format, seed, detail=2 * (index + 1))
            event = {
                "type": f"{prefix}.partial_image",
                "b64_json": base64.b64encode(data).decode("ascii"),
                "partial_image_index": index,
                **common,
            }
            spec_validator(f"{schema_prefix}PartialImageEvent").validate(event)
            yield event
        final = {
            "type": f"{prefix}.completed",
            "b64_json": base64.b64encode(render_image(width, height, output_format, seed)).decode("ascii"),
            "usage": usage_for_params(params, record.images),
            **common,
        }
        spec_validator(f"{schema_prefix}CompletedEvent").validate(final)
        yield final

    async def _stream(
        self, request: web.Request, record: RecordedRequest, prefix: str, failure: _Failure | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
        )
        await response.prepare(request)
        record.status = 200
        record.streamed = True
        events = list(self.stream_events(record, prefix))
        latency = self._latency()
        for event in events:
            await self._pause(latency / len(events), request)
            if failure is not None and event["type"].endswith(".completed"):
                error = _moderation_body(failure)["error"]
                await _send_event(response, "error", {"type": "error", "error": error})
                record.events.append("error")
                break
            await _send_event(response, event["type"], event)
            record.events.append(str(event["type"]))
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await response.write_eof()
        return response


class _ClientGone(Exception):
    """The client closed its connection while its request was being answered."""


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _check_model_rules(params: Mapping[str, Any]) -> None:
    """What the API refuses beyond the spec's schema (which already caps ``image[]`` at 16 and
    ``n`` at 1 to 10), as the installed SDK documents it: ``input_fidelity`` where the model takes
    none (the ``gpt-image-2`` family: "For gpt-image-2, omit this parameter") or not that value
    (``gpt-image-1-mini``: ``low`` only)."""
    fidelity = params.get("input_fidelity")
    if fidelity is None:
        return
    model = str(params.get("model") or "")
    if model.startswith("gpt-image-2"):
        raise _Refusal(
            400,
            error_body(
                "Unsupported parameter: 'input_fidelity' is not supported with this model.",
                "invalid_request_error",
                "unsupported_parameter",
                "input_fidelity",
            ),
        )
    if model.startswith("gpt-image-1-mini") and fidelity != "low":
        raise _Refusal(
            400,
            error_body(
                f"Invalid value: '{fidelity}'. Supported values are: 'low'.",
                "invalid_request_error",
                "invalid_value",
                "input_fidelity",
            ),
        )


async def _send_event(response: web.StreamResponse, name: str, data: Mapping[str, Any]) -> None:
    await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())


def _seed(params: Mapping[str, Any]) -> int:
    digest = hashlib.sha256(str(params.get("prompt", "")).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")


def _decoded_file(name: str, filename: str | None, content_type: str | None, data: bytes) -> RecordedFile:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return RecordedFile(name, filename, content_type, data, image.width, image.height, image.format)
    except Exception:
        return RecordedFile(name, filename, content_type, data)


def _area_refusal(message: str, param: str, code: str = "invalid_value") -> _Refusal:
    return _Refusal(400, error_body(message, "invalid_request_error", code, param))


def _check_edit_area(record: RecordedRequest, params: Mapping[str, Any]) -> None:
    """The rules of ``mask`` and ``markup`` as the API states them: at most one of the two; a PNG
    under 4 MB with an alpha channel, of exactly the first image's size; markup only on GPT Image 2.5,
    with transparent pixels."""
    mask, markup = record.mask, record.markup
    if mask is not None and markup is not None:
        raise _area_refusal("'markup' cannot be combined with 'mask'.", "markup")
    area = mask or markup
    if area is None:
        return
    param = area.part_name
    model = str(params.get("model") or "")
    if param == "markup" and not model.startswith(MARKUP_MODELS):
        raise _area_refusal(f"'markup' is not supported with model '{model}'.", "markup", "unsupported_parameter")
    if area.image_format != "PNG" or area.content_type != "image/png":
        raise _area_refusal(f"Invalid {param} image: it must be a valid PNG file.", param, "invalid_image_format")
    if len(area.data) >= MAX_MASK_BYTES:
        raise _area_refusal(f"Invalid {param} image: it must be less than 4MB.", param, "image_too_large")
    first = record.images[0] if record.images else None
    if first is None or (area.width, area.height) != (first.width, first.height):
        raise _area_refusal(
            f"Invalid {param} image: {param} and image must have the same dimensions "
            f"({area.width}x{area.height} against {None if first is None else (first.width, first.height)}).",
            param,
        )
    with Image.open(io.BytesIO(area.data)) as image:
        if "A" not in image.getbands() and "transparency" not in image.info:
            raise _area_refusal(f"Invalid {param} image: it must have an alpha channel.", param)
        alpha = image.convert("RGBA").getchannel("A")
    if alpha.getextrema()[0] != 0:
        raise _area_refusal(f"Invalid {param} image: it has no fully transparent area to edit.", param)


def _moderation_body(failure: _Failure) -> dict[str, Any]:
    violations = ", ".join(failure.categories)
    message = failure.message or (
        "Your request was rejected by the safety system. If you believe this is an error, contact us at "
        "help.openai.com and include the request ID req_double0000. "
        f"safety_violations=[{violations}]."
    )
    return error_body(message, "image_generation_user_error", "moderation_blocked")


def _refusal_for(failure: _Failure) -> _Refusal:
    kind = failure.kind
    if kind == "moderation_blocked":
        return _Refusal(400, _moderation_body(failure))
    if kind == "invalid_api_key":
        return _Refusal(
            401,
            error_body(
                failure.message
                or "Incorrect API key provided: sk-test. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
        )
    if kind == "rate_limit":
        return _Refusal(
            429,
            error_body(
                failure.message
                or "Rate limit reached for gpt-image-2 in organization org-double on images per "
                "minute (IPM): Limit 5, Used 5, Requested 1. Please try again in 12s.",
                "requests",
                "rate_limit_exceeded",
            ),
            headers={"Retry-After": _format_seconds(failure.retry_after)},
        )
    if kind == "insufficient_quota":
        return _Refusal(
            429,
            error_body(
                failure.message or "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
        )
    if kind == "server_error":
        return _Refusal(
            500,
            error_body(
                failure.message or "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
        )
    return _Refusal(400, error_body(failure.message or "Invalid request.", "invalid_request_error", "invalid_value"))


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@pytest_asyncio.fixture
async def openai_double() -> AsyncIterator[OpenAIDouble]:
    """A started ``OpenAIDouble``, closed after the test. Import it into a conftest to use it."""
    async with OpenAIDouble() as api:
        yield api
