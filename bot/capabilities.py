"""What each GPT Image model accepts, so bad requests are refused before any API call.

``caps_for(model)`` gives a model's ``ModelCaps`` (retired and unknown models raise
``UnsupportedOption`` naming a replacement). ``check_request(options, image_count)`` raises
the ``bot.errors`` type a chat user can act on: ``UnsupportedOption``, ``TooManyImages``,
``PromptTooLong`` or ``NoImages``.

Source: the ``openai`` 3.54 SDK docstrings (``markup``: 3.57) for ``images.edit`` (November 2026), which are newer
than the pinned OpenAPI document. The SDK does not document sizes, qualities or backgrounds for
``gpt-image-2.6-*``: those entries are deliberately conservative (see ``_GPT_IMAGE_2_6``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import NoImages, PromptTooLong, TooManyImages, UnsupportedOption
from .model import MergeOptions, Reference, Role, Strength

STANDARD_SIZES = frozenset({"1024x1024", "1536x1024", "1024x1536"})
ALL_BACKGROUNDS = frozenset({"auto", "opaque", "transparent"})
BASE_QUALITIES = frozenset({"auto", "low", "medium", "high"})
RASTER_FORMATS = frozenset({"png", "jpeg", "webp"})
ALPHA_FORMATS = frozenset({"png", "webp"})
_SIZE_RE = re.compile(r"(\d{1,5})x(\d{1,5})")


@dataclass(frozen=True)
class SizeRule:
    """Which ``size`` values a model takes: ``auto``, the standard three, and maybe any ``WxH``.

    Flexible sizes follow the SDK's words: both sides divisible by ``multiple``, aspect ratio
    between 1:``max_ratio`` and ``max_ratio``:1, at most ``max_edge`` on a side and
    ``max_pixels`` in all (3840x2160). ``min_pixels`` is the published floor for gpt-image-2
    (655,360 px, e.g. 1024x640).
    """

    flexible: bool = False
    auto: bool = True
    multiple: int = 16
    max_ratio: float = 3.0
    max_edge: int = 3840
    max_pixels: int = 3840 * 2160
    min_pixels: int = 655_360

    def problem(self, size: str) -> str | None:
        """Why ``size`` is refused, in words for a chat user, or None when it is fine."""
        if size == "auto":
            return None if self.auto else "it needs an explicit size such as 1024x1024"
        if size in STANDARD_SIZES:
            return None
        match = _SIZE_RE.fullmatch(size)
        if match is None:
            return "sizes are written WIDTHxHEIGHT, for example 1536x1024, or auto"
        if not self.flexible:
            return "it only takes 1024x1024, 1536x1024, 1024x1536" + (" or auto" if self.auto else "")
        width, height = int(match[1]), int(match[2])
        if width == 0 or height == 0:
            return "width and height must be positive"
        if width % self.multiple or height % self.multiple:
            nearest = f"{_round_to(width, self.multiple)}x{_round_to(height, self.multiple)}"
            hint = f" (try {nearest})" if self.problem(nearest) is None else ""
            return f"width and height must be multiples of {self.multiple}{hint}"
        if max(width, height) > self.max_ratio * min(width, height):
            return f"the aspect ratio must be between 1:{self.max_ratio:g} and {self.max_ratio:g}:1"
        if max(width, height) > self.max_edge or width * height > self.max_pixels:
            return f"the largest size it makes is 3840x2160 (at most {self.max_edge} px on a side)"
        if width * height < self.min_pixels:
            return f"it needs at least {self.min_pixels:,} pixels (for example 1024x640)"
        return None


def _round_to(value: int, multiple: int) -> int:
    return max(multiple, (value + multiple // 2) // multiple * multiple)  # halves round up


@dataclass(frozen=True)
class ModelCaps:
    """One model's accepted options for ``images.edit``."""

    name: str
    sizes: SizeRule
    qualities: frozenset[str] = BASE_QUALITIES
    backgrounds: frozenset[str] = ALL_BACKGROUNDS
    input_fidelity: frozenset[str] = frozenset()  # empty: the model refuses the parameter
    output_formats: frozenset[str] = RASTER_FORMATS
    max_input_images: int = 16  # images per images.edit call; 1 means the labeled sheet only
    max_prompt_chars: int = 32_000
    max_n: int = 10
    streams: bool = True
    max_partial_images: int = 3
    # How a region edit says where image 1 may change: ``mask`` (a PNG transparent where the edit
    # may happen, every GPT Image model) or ``markup`` (a transparent overlay drawn on image 1, the
    # SDK: "Supports GPT Image 2.5. Cannot be combined with mask").
    edit_area: str = "mask"

    def partial_images(self, wanted: int) -> int:
        """``wanted`` partial previews clamped to what the model streams (0 when it does not)."""
        return max(0, min(wanted, self.max_partial_images)) if self.streams else 0


_FLEXIBLE = SizeRule(flexible=True)
_STANDARD = SizeRule(flexible=False)

_GPT_IMAGE_2 = ModelCaps(name="gpt-image-2", sizes=_FLEXIBLE)  # transparent is "in preview": allowed
_GPT_IMAGE_2_5 = ModelCaps(
    name="gpt-image-2.5", sizes=_FLEXIBLE, qualities=BASE_QUALITIES | {"xhigh", "max"}, edit_area="markup"
)
# gpt-image-2.6-*: the SDK lists the models but documents none of their options. Conservative
# until it does: standard sizes only, base qualities, no transparent background, no
# input_fidelity. partial_images is documented for every GPT Image model, so streaming stays on.
# They are not among the models the SDK says take "up to 16 images", so one image: auto mode
# sends them the labeled sheet, as every mode did before native multi-image.
_GPT_IMAGE_2_6 = ModelCaps(
    name="gpt-image-2.6", sizes=_STANDARD, backgrounds=frozenset({"auto", "opaque"}), max_input_images=1
)
_GPT_IMAGE_1_5 = ModelCaps(name="gpt-image-1.5", sizes=_STANDARD, input_fidelity=frozenset({"low", "high"}))
_GPT_IMAGE_1_MINI = ModelCaps(name="gpt-image-1-mini", sizes=_STANDARD, input_fidelity=frozenset({"low"}))
# chatgpt-image-latest "follows the same input constraints"; its outputs are not documented,
# so no transparent background and no input_fidelity.
_CHATGPT_IMAGE = ModelCaps(name="chatgpt-image-latest", sizes=_STANDARD, backgrounds=frozenset({"auto", "opaque"}))

MODELS: dict[str, ModelCaps] = {
    "gpt-image-2": _GPT_IMAGE_2,
    "gpt-image-2-2026-04-21": _GPT_IMAGE_2,
    "gpt-image-2.5-sunburst": _GPT_IMAGE_2_5,
    "gpt-image-2.5-sunburst-2026-09-08": _GPT_IMAGE_2_5,
    "gpt-image-2.5-flare": _GPT_IMAGE_2_5,
    "gpt-image-2.5-flare-2026-09-08": _GPT_IMAGE_2_5,
    "gpt-image-2.6-sunburst": _GPT_IMAGE_2_6,
    "gpt-image-2.6-flare": _GPT_IMAGE_2_6,
    "gpt-image-1.5": _GPT_IMAGE_1_5,
    "gpt-image-1-mini": _GPT_IMAGE_1_MINI,
    "chatgpt-image-latest": _CHATGPT_IMAGE,
}

RETIRED: dict[str, str] = {
    "gpt-image-1": ("gpt-image-1 was shut down on 2026-10-23; use gpt-image-2.5-sunburst or gpt-image-2.5-flare"),
    "dall-e-2": "dall-e-2 was retired on 2026-05-12; use gpt-image-2",
    "dall-e-3": "dall-e-3 was retired on 2026-05-12; use gpt-image-2",
}


def caps_for(model: str) -> ModelCaps:
    """The capabilities of ``model``; retired or unknown models raise ``UnsupportedOption``."""
    caps = MODELS.get(model)
    if caps is not None:
        return caps
    retired = RETIRED.get(model)
    if retired is not None:
        raise UnsupportedOption(f"{retired}.")
    raise UnsupportedOption(f"Unknown image model {model!r}. Pick one of: {', '.join(sorted(MODELS))}.")


def _alternative(model: str, wants: str, accepts: object) -> str:
    """A model that takes what ``model`` refused, for the "or pick ..." part of a message."""
    for name, caps in MODELS.items():
        if name != model and accepts in getattr(caps, wants):
            return name
    return "another model"


def check_request(options: MergeOptions, image_count: int) -> None:
    """Refuse, with a message the person can act on, what ``options.model`` would refuse.

    ``image_count`` is what would be sent (``bot.modes.ModeChoice.image_count``).
    """
    model = options.model
    caps = caps_for(model)
    if image_count < 1:
        raise NoImages("There is no image to merge: add at least one reference image.")
    if image_count > caps.max_input_images:
        extra = image_count - caps.max_input_images
        takes = "one image" if caps.max_input_images == 1 else f"at most {caps.max_input_images} images"
        raise TooManyImages(
            f"{model} takes {takes} and this merge would send {image_count}: "
            f"remove {extra}, or use auto or collage mode, which send them as one sheet."
        )
    if len(options.prompt) > caps.max_prompt_chars:
        raise PromptTooLong(
            f"The prompt is {len(options.prompt):,} characters; {model} takes at most "
            f"{caps.max_prompt_chars:,}. Shorten it."
        )
    if not 1 <= options.n <= caps.max_n:
        raise UnsupportedOption(f"{model} makes between 1 and {caps.max_n} images per request, not {options.n}.")
    size_problem = caps.sizes.problem(options.size)
    if size_problem is not None:
        raise UnsupportedOption(f"Size {options.size} does not work with {model}: {size_problem}.")
    if options.quality not in caps.qualities:
        raise UnsupportedOption(
            f"{model} does not take quality {options.quality!r}; use one of {_listed(caps.qualities)}"
            f" or pick {_alternative(model, 'qualities', options.quality)}."
        )
    if options.output_format not in caps.output_formats:
        raise UnsupportedOption(
            f"{model} cannot write {options.output_format!r} images; use one of {_listed(caps.output_formats)}."
        )
    if options.background not in caps.backgrounds:
        raise UnsupportedOption(
            f"{model} does not take a {options.background} background; drop it or pick "
            f"{_alternative(model, 'backgrounds', options.background)}."
        )
    if options.background == "transparent" and options.output_format not in ALPHA_FORMATS:
        raise UnsupportedOption(
            f"A transparent background needs png or webp output, not {options.output_format}: "
            "change the format or drop the transparent background."
        )
    if options.input_fidelity is not None and options.input_fidelity not in caps.input_fidelity:
        if not caps.input_fidelity:
            raise UnsupportedOption(
                f"{model} does not take input_fidelity; drop it or pick "
                f"{_alternative(model, 'input_fidelity', options.input_fidelity)}."
            )
        raise UnsupportedOption(
            f"{model} takes input_fidelity {_listed(caps.input_fidelity)} only, not {options.input_fidelity!r}."
        )


def wanted_input_fidelity(options: MergeOptions, references: Sequence[Reference]) -> str | None:
    """The ``input_fidelity`` to send: the person's own choice, else ``high`` when a subject is at
    high or max strength and ``options.model`` takes it (gpt-image-1.5), else none (omitted)."""
    if options.input_fidelity is not None:
        return options.input_fidelity
    strong_subject = any(
        ref.role is Role.SUBJECT and ref.strength in (Strength.HIGH, Strength.MAX) for ref in references
    )
    if strong_subject and "high" in caps_for(options.model).input_fidelity:
        return "high"
    return None


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))
