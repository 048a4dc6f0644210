"""Estimated cost of a generation from its token usage.

Prices are US dollars per 1M tokens, in three buckets: ``input_text``, ``input_image`` and
``output_image``. ``Settings.prices`` (``MERGEBOT_PRICES``) overrides them per model, whole or
in part, and adds models the table lacks. A dated snapshot (``gpt-image-2-2026-04-21``) is
priced as its model unless it has its own entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .model import Usage

PRICE_KEYS = ("input_text", "input_image", "output_image")

# Standard (non-batch, uncached) prices from openai.com/api/pricing, as of 2026-11-24.
# gpt-image-2.5-* and gpt-image-2.6-* had no published token prices then: they are estimated at
# gpt-image-2's prices (so the workspace cost cap still counts them) until MERGEBOT_PRICES says better.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-image-2": {"input_text": 5.00, "input_image": 8.00, "output_image": 30.00},
    "gpt-image-1.5": {"input_text": 5.00, "input_image": 8.00, "output_image": 32.00},
    "chatgpt-image-latest": {"input_text": 5.00, "input_image": 8.00, "output_image": 32.00},
    "gpt-image-1-mini": {"input_text": 2.00, "input_image": 2.50, "output_image": 8.00},
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


_NEWER_GPT_IMAGE_2 = re.compile(r"^gpt-image-2\.\d+-")


def _family(model: str) -> str:
    return _SNAPSHOT.sub("", model)


def _lineage(model: str) -> tuple[str, ...]:
    """Where prices are looked up, most general first: the series, the family, the model itself."""
    series = ("gpt-image-2",) if _NEWER_GPT_IMAGE_2.match(model) else ()
    return (*series, _family(model), model)


def prices_for(model: str, overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float] | None:
    """The per-1M-token prices for ``model``, or None when some bucket has no price."""
    overrides = overrides or {}
    table: dict[str, float] = {}
    for name in _lineage(model):  # the more specific entries win
        table.update(DEFAULT_PRICES.get(name, {}))
        table.update(overrides.get(name, {}))
    if not all(key in table for key in PRICE_KEYS):
        return None
    return {key: table[key] for key in PRICE_KEYS}


def estimate_cost(
    model: str, usage: Usage | None, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> float | None:
    """Dollars for ``usage`` on ``model``; None when the usage or the model's prices are unknown.

    When the API gives no split of input tokens, they are all priced as image tokens, the
    dearer bucket, so the estimate errs high.
    """
    if usage is None:
        return None
    prices = prices_for(model, overrides)
    if prices is None:
        return None
    text_tokens, image_tokens = usage.input_text_tokens, usage.input_image_tokens
    if text_tokens + image_tokens == 0:
        image_tokens = usage.input_tokens
    dollars = (
        text_tokens * prices["input_text"]
        + image_tokens * prices["input_image"]
        + usage.output_tokens * prices["output_image"]
    ) / 1_000_000
    return round(dollars, 6)


# Output tokens per image at 1024x1024 for each quality (OpenAI's published figures); other
# sizes scale with their area. "auto" is priced as high, so a reservation errs high.
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}
_AUTO_SIZE_PIXELS = 1536 * 1024  # the largest size "auto" picks
# An input image costs 65 tokens plus 129 per 512 px tile; references are at most 2048 px a side.
_INPUT_IMAGE_TOKENS_MAX = 65 + 129 * 16
_CHARS_PER_TEXT_TOKEN = 4


def estimate_request_cost(
    model: str,
    *,
    size: str,
    quality: str,
    n: int,
    prompt_chars: int,
    input_images: int,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> float | None:
    """An upper estimate in dollars of one ``images.edit`` call before it is made, or None
    when ``model`` has no price. What a merge reserves against the workspace's budget."""
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    pixels = int(match[1]) * int(match[2]) if match else _AUTO_SIZE_PIXELS
    per_image = OUTPUT_TOKENS_1024.get(quality, max(OUTPUT_TOKENS_1024.values()))
    if quality == "auto":
        per_image = OUTPUT_TOKENS_1024["high"]
    output_tokens = -(-per_image * pixels // (1024 * 1024)) * max(1, n)
    text_tokens = -(-prompt_chars // _CHARS_PER_TEXT_TOKEN) + 1
    usage = Usage(
        input_tokens=text_tokens + _INPUT_IMAGE_TOKENS_MAX * input_images,
        input_text_tokens=text_tokens,
        input_image_tokens=_INPUT_IMAGE_TOKENS_MAX * input_images,
        output_tokens=output_tokens,
    )
    return estimate_cost(model, usage, overrides)
