"""Masking of secrets in any text that may reach a person, the store or a log.

``Redactor(secrets).mask(text)`` replaces the configured secrets themselves and anything that
looks like a credential: API keys in the formats OpenAI, gateways in front of it, Azure and Slack
use, ``Bearer``/``Bot`` authorization values, Discord bot tokens and JWTs, Discord interaction
and webhook tokens in URL paths, Slack ``response_url`` paths, ``"token"`` fields, and the query
string of every URL (signed CDN links, Socket Mode tickets). It runs on text that is already
formatted, so it also covers tracebacks and third-party library output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_CHARS = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # OpenAI keys and session tokens: sk-..., sk-proj-..., sess-...
    (re.compile(r"\b(sk|sess|proj)-[A-Za-z0-9_\-*]{4,}"), rf"\1-{MASK}"),
    # gateway / provider keys such as gw_live_..., sk_test_..., rk_live_...
    (re.compile(r"\b([A-Za-z]{2,12})_(live|test|prod)_[A-Za-z0-9]{6,}"), rf"\1_\2_{MASK}"),
    # Slack tokens: xoxb-, xoxp-, xoxa-, xoxe-..., xapp-
    (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]{6,}"), rf"\1-{MASK}"),
    # Authorization header values (Discord's "Bot <token>" is caught by the dotted pattern below)
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    # Discord bot tokens and JWTs: three base64url parts joined by dots
    (re.compile(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{20,}"), MASK),
    # Azure-style keys: 32 hex digits standing alone
    (re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32}(?![0-9A-Fa-f])"), MASK),
    # Discord interaction and webhook tokens in URL paths: /interactions/<id>/<token>, /webhooks/<id>/<token>
    (re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9._-]+"), rf"\1{MASK}"),
    # Slack response_url and incoming-webhook paths: /actions/T…/123/secret, /commands/…, /services/…
    (re.compile(r"(/(?:actions|commands|services|workflows|triggers)/)[A-Za-z0-9/_-]+"), rf"\1{MASK}"),
    # "token": "…" in JSON or a Python repr (Discord interaction payloads, Slack bodies)
    (
        re.compile(r"""((?:["']|\b)(?:token|ticket|response_url|access_token)["']?\s*[:=]\s*["']?)[^"'\s,&}]+"""),
        rf"\1{MASK}",
    ),
    # query strings of URLs: signed CDN links (ex/is/hm), Socket Mode tickets, presigned blobs
    (re.compile(r"((?:https?|wss?)://[^\s?#'\"<>]+)\?[^\s#'\"<>]+"), rf"\1?{MASK}"),
)


class Redactor:
    """Masks ``secrets`` (the configured credentials) and credential-looking text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is masked whole
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True))

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters shown escaped, so it adds no log line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)
