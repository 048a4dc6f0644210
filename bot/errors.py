"""Every error mergebot raises on purpose descends from one root.

    MergebotError                 root; ``user_message`` is safe to show in a chat
    ├── ConfigError               settings missing or invalid (start-up only)
    ├── InputError                the person asked for something that cannot be done
    │   ├── ImageRejected         one file is not a usable image (names the file)
    │   ├── NoImages              nothing to merge
    │   ├── TooManyImages         more references than the limit
    │   ├── PromptTooLong         prompt over the model's limit
    │   ├── MissingReference      the prompt names a letter no reference carries
    │   ├── MarkedCopyRefused     a region edit's marked copy matches nothing (says what to do)
    │   └── UnsupportedOption     the model does not take this option combination
    ├── FetchError                a download failed (host, size, timeout, not an image)
    ├── LimitExceeded             a quota or concurrency limit; says which and when it resets
    ├── PermissionDenied          this person may not press that control
    ├── JobNotFound               the merge a control points at is no longer stored
    ├── ShuttingDown              the bot is stopping: this merge did not start
    ├── StorageFailed             the data dir refused a write (disk full, read-only)
    └── GenerationError           the image model failed
        ├── ContentBlocked        moderation refused the prompt or an image
        ├── RateLimited           429 from the API; ``retry_after`` seconds when known
        ├── QuotaExhausted        the account is out of credit
        ├── AuthFailed            the API key was refused
        ├── GenerationTimeout     no answer in time
        └── ServiceUnavailable    server errors that outlived the retries

``user_message`` never contains a secret, a traceback or a raw API body.
"""

from __future__ import annotations

from datetime import datetime


class MergebotError(Exception):
    """Root of every deliberate mergebot error."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ConfigError(MergebotError):
    """Settings are missing or invalid."""


class InputError(MergebotError):
    """The request cannot be served as asked; the person can fix it."""


class ImageRejected(InputError):
    """One reference is unusable; ``name`` says which."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class NoImages(InputError):
    """There was nothing to merge."""


class TooManyImages(InputError):
    """More references than the configured or model limit."""


class PromptTooLong(InputError):
    """The prompt is longer than the model accepts."""


class MissingReference(InputError):
    """The prompt names letters with no usable reference; ``labels`` says which."""

    def __init__(self, user_message: str, labels: tuple[str, ...]) -> None:
        super().__init__(user_message)
        self.labels = labels


class MarkedCopyRefused(InputError):
    """A marked copy for a region edit is another picture, or has no marks on it."""


class UnsupportedOption(InputError):
    """The chosen model refuses this option or combination."""


class FetchError(MergebotError):
    """A download failed; the message says why without leaking credentials."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class LimitExceeded(MergebotError):
    """A usage limit refused the request."""

    def __init__(self, user_message: str, limit: str, resets_at: datetime | None = None) -> None:
        super().__init__(user_message)
        self.limit = limit
        self.resets_at = resets_at


class PermissionDenied(MergebotError):
    """The actor may not perform this action on this job."""


class JobNotFound(MergebotError):
    """A control points at a job that is no longer stored."""

    def __init__(self, job_id: str) -> None:
        super().__init__("This merge is no longer stored, so its buttons no longer work. Start a new /merge.")
        self.job_id = job_id


class ShuttingDown(MergebotError):
    """The bot is stopping, so this merge was not started."""


class StorageFailed(MergebotError):
    """The blob store or the database refused a write (disk full, read-only, I/O error)."""


class GenerationError(MergebotError):
    """The image model did not produce a result."""


class ContentBlocked(GenerationError):
    """The safety system refused the prompt or a reference."""

    def __init__(self, user_message: str, categories: tuple[str, ...] = ()) -> None:
        super().__init__(user_message)
        self.categories = categories


class RateLimited(GenerationError):
    """Too many requests; retry after ``retry_after`` seconds when known."""

    def __init__(self, user_message: str, retry_after: float | None = None) -> None:
        super().__init__(user_message)
        self.retry_after = retry_after


class QuotaExhausted(GenerationError):
    """The OpenAI account has no credit left."""


class AuthFailed(GenerationError):
    """The OpenAI API key was refused."""


class GenerationTimeout(GenerationError):
    """The model did not answer in time."""


class ServiceUnavailable(GenerationError):
    """OpenAI kept failing after the retries."""
