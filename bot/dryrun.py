"""The dry run: the real service with an image generator that checks everything and calls nothing.

Django's test client habit: the dry run is the real path with one stub at the edge, so
``mergebot merge --dry-run`` runs every check a paid run would (prompt length, model, size,
weights for labels that do not exist, the letters the prompt names, quotas) through the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .generate import EditArea, Generated, InputImage, PartialSink, check_call
from .model import MergeOptions, Origin, Usage
from .sniff import sniff


@dataclass(frozen=True)
class PlannedCall:
    """The ``images.edit`` call a real run would make."""

    images: tuple[InputImage, ...]
    prompt: str
    options: MergeOptions
    area: EditArea | None = None


@dataclass
class DryRunGenerator:
    """Records the call instead of making it; answers with the first input image as the "result"."""

    calls: list[PlannedCall] = field(default_factory=list)

    async def generate(
        self,
        images: Sequence[InputImage],
        prompt: str,
        options: MergeOptions,
        on_partial: PartialSink | None = None,
        *,
        person: Origin | None = None,  # a real run sends a salted safety_identifier of them; nothing is sent here
        area: EditArea | None = None,
    ) -> Generated:
        check_call(images, prompt, options, area)
        self.calls.append(PlannedCall(tuple(images), prompt, options, area))
        first = images[0].data
        return Generated((first,), sniff(first) or "png", Usage(), options.model, elapsed_s=0.0, partials=0)

    async def aclose(self) -> None:
        """Nothing to close: no client was made."""
