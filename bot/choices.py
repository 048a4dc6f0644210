"""What a person may choose for a merge, as plain values: modes, roles, strengths, variations.

Nothing here imports more than ``enum``, so the command line builds its parser (and answers
``mergebot --help``) without loading the bot; ``bot.model`` and ``bot.settings`` re-export these.
"""

from __future__ import annotations

from enum import StrEnum

MAX_VARIATIONS = 4  # variations one merge may ask for (one images.edit call takes n up to 10)


class Mode(StrEnum):
    """How references reach the model."""

    AUTO = "auto"  # separate within the model's image limit, else collage (bot/plan.py decides)
    COLLAGE = "collage"  # one labeled reference sheet
    SEPARATE = "separate"  # each reference as its own image, subjects first, then by strength
    HYBRID = "hybrid"  # the labeled sheet first, then each reference within the model's limit


class Role(StrEnum):
    """What the model should take from a reference."""

    NONE = "none"  # a plain reference
    SUBJECT = "subject"  # keep its identity: face, hair, outfit, shape, markings
    STYLE = "style"  # only its look: medium, palette, lighting, brushwork
    SCENE = "scene"  # its setting, background and composition
    OBJECT = "object"  # an item to include as it is
    OFF = "off"  # left out of the merge; kept on the job so a later merge can bring it back


class Strength(StrEnum):
    """A reference's weight under a name people can read."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    MAX = "max"


ROLE_WORDS = tuple(role.value for role in Role)
STRENGTH_WORDS = tuple(strength.value for strength in Strength)
