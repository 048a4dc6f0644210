"""The ``mergebot`` command.

    mergebot merge IMAGE... --prompt TEXT [--mode collage|separate] [--weight A=2 ...]
                  [--size WxH|auto] [--quality low|medium|high|auto] [--model NAME]
                  [--out PATH] [--dry-run]
    mergebot run                 start every configured chat platform
    mergebot health              exit 0 when a running bot's heartbeat is fresh
    mergebot discord sync|invite (from the Discord adapter)

Exit codes: 0 success, 2 bad usage or input, 1 failure. The reason goes to
stderr in one line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import ConfigError, FetchError, InputError, LimitExceeded, MergebotError
from .model import ImageSource, MergeOptions, MergeRequest, Mode, Origin, Progress, Stage
from .settings import Settings

if TYPE_CHECKING:
    from .plan import Prepared

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
WEIGHT = re.compile(r"^(?P<label>[A-Z]{1,2})=(?P<weight>\d+(?:\.\d+)?)$")
SIZE = re.compile(r"^(auto|\d{2,5}x\d{2,5})$")
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
USAGE_ERRORS = (InputError, FetchError, ConfigError, LimitExceeded)


class UsageError(Exception):
    """Bad command-line usage; exits 2."""


def _exit(code: int, message: str) -> NoReturn:
    print(f"mergebot: {message}", file=sys.stderr)
    raise SystemExit(code)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mergebot", description="Merge reference images with OpenAI's GPT Image models."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    merge = commands.add_parser("merge", help="merge local images from the terminal")
    merge.add_argument("images", nargs="+", metavar="IMAGE", help="image files; labeled A, B, C… in this order")
    merge.add_argument("--prompt", "-p", required=True, help="what to make of the references")
    merge.add_argument("--mode", choices=[m.value for m in Mode], help="collage (one labeled sheet) or separate")
    merge.add_argument("--weight", "-w", action="append", default=[], metavar="A=2", help="weight of a reference")
    merge.add_argument("--size", default="auto", help="WxH (e.g. 1536x1024) or auto")
    merge.add_argument("--quality", default="auto", choices=["low", "medium", "high", "auto"])
    merge.add_argument("--model", help="image model (default: MERGEBOT_MODEL or gpt-image-2)")
    merge.add_argument("--out", "-o", type=Path, default=Path("merged.png"), help="output file (.png .jpg .webp)")
    merge.add_argument("--dry-run", action="store_true", help="build the sheet and print the request; call no API")

    commands.add_parser("run", help="start every chat platform whose credentials are set")
    commands.add_parser("health", help="exit 0 when a running bot's heartbeat is fresh (Docker healthcheck)")
    if argv[:1] == ["discord"]:  # import discord.py only when its commands are asked for
        from adapters.discord import add_cli

        add_cli(commands)
    else:
        commands.add_parser("discord", help="Discord setup: `mergebot discord sync|invite`", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        settings = Settings.from_env(dotenv=Path(".env"))
    except ConfigError as exc:
        _exit(EXIT_USAGE, exc.user_message)
    if args.command == "merge":
        return _merge(args, settings)
    if args.command == "run":
        return _run(settings)
    if args.command == "health":
        from .runner import heartbeat_is_fresh

        return EXIT_OK if heartbeat_is_fresh(settings.data_dir) else EXIT_FAILURE
    handler = getattr(args, "func", None)  # set by an adapter's add_cli
    if handler is None:
        _exit(EXIT_USAGE, "use `mergebot discord sync [--guild ID]` or `mergebot discord invite`")
    return int(handler(args))


def _run(settings: Settings) -> int:
    from .logs import configure
    from .runner import missing_settings, run

    problem = missing_settings(settings)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    configure(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))
    return EXIT_OK


def parse_weights(pairs: Sequence[str]) -> dict[str, float]:
    weights = {}
    for pair in pairs:
        match = WEIGHT.match(pair.strip().upper())
        if match is None:
            raise UsageError(f"--weight takes LABEL=NUMBER such as A=2, got {pair!r}")
        weight = float(match["weight"])
        if not 0.25 <= weight <= 4:
            raise UsageError(f"weights go from 0.25 to 4, got {pair!r}")
        weights[match["label"]] = weight
    return weights


def read_sources(paths: Sequence[str]) -> tuple[tuple[ImageSource, ...], list[str]]:
    """The readable files as sources, and a warning for each that could not be read."""
    sources, warnings = [], []
    for raw in paths:
        path = Path(raw)
        try:
            data = path.read_bytes()
        except OSError as exc:
            warnings.append(f"{path.name}: cannot read it ({exc.strerror or exc})")
            continue
        sources.append(ImageSource(name=path.name, data=data, caption=path.stem))
    return tuple(sources), warnings


def _options(args: argparse.Namespace, settings: Settings) -> MergeOptions:
    if not SIZE.match(args.size):
        raise UsageError(f"--size takes WxH (such as 1536x1024) or auto, got {args.size!r}")
    fmt = FORMATS.get(args.out.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out must end in .png, .jpg or .webp, got {args.out.name!r}")
    return MergeOptions(
        prompt=args.prompt,
        mode=Mode(args.mode) if args.mode else settings.mode,
        model=args.model or settings.model,
        size=args.size,
        quality=args.quality,
        output_format=fmt,
    )


def _merge(args: argparse.Namespace, settings: Settings) -> int:
    try:
        options = _options(args, settings)
        weights = parse_weights(args.weight)
    except UsageError as exc:
        _exit(EXIT_USAGE, str(exc))
    sources, warnings = read_sources(args.images)
    for warning in warnings:
        print(f"mergebot: warning: {warning}", file=sys.stderr)
    if not sources:
        _exit(EXIT_USAGE, "none of the image files could be read")
    origin = Origin(platform="cli", workspace_id="local", channel_id="terminal", user_id=_user())
    request = MergeRequest(origin=origin, sources=sources, options=options, weights=weights)
    runner = _dry_run if args.dry_run else _generate
    try:
        return asyncio.run(runner(request, settings, args.out))
    except KeyboardInterrupt:
        _exit(EXIT_FAILURE, "interrupted")


async def _dry_run(request: MergeRequest, settings: Settings, out: Path) -> int:
    from .fetch import Fetcher
    from .plan import dry_run

    fetcher = Fetcher(settings)
    try:
        prepared, skipped = await dry_run(request, settings, fetcher)
    except MergebotError as exc:
        _exit(EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILURE, _one_line(exc.user_message))
    finally:
        await fetcher.aclose()
    for warning in skipped:
        print(f"mergebot: warning: {warning}", file=sys.stderr)
    await asyncio.to_thread(prepared.sheet.image.save, out)
    print(json.dumps(_describe(request.options, prepared), indent=2, ensure_ascii=False))
    return EXIT_OK


def _describe(options: MergeOptions, prepared: Prepared) -> dict[str, Any]:
    sheet = prepared.sheet
    return {
        "endpoint": "images.edit",
        "model": options.model,
        "mode": options.mode.value,
        "prompt": prepared.prompt,
        "size": options.size,
        "quality": options.quality,
        "output_format": options.output_format,
        "images": [{"name": f.name, "mime": f.mime, "bytes": len(f.data)} for f in prepared.files],
        "references": [
            {
                "label": ref.label,
                "weight": ref.weight,
                "source": ref.source,
                "width": ref.width,
                "height": ref.height,
                "bytes": ref.byte_size,
            }
            for ref in prepared.references
        ],
        "sheet": {
            "width": sheet.size[0],
            "height": sheet.size[1],
            "bytes": len(sheet.data),
            "fill_ratio": round(sheet.fill_ratio, 3),
            "boxes": {label: [b.x0, b.y0, b.x1, b.y1] for label, b in sheet.boxes.items()},
        },
    }


async def _generate(request: MergeRequest, settings: Settings, out: Path) -> int:
    from .service import MergeService

    service = await MergeService.open(settings)
    try:
        outcome = await service.merge(request, _print_progress)
    finally:
        await service.aclose()
    if not outcome.ok or outcome.view.image is None:
        error = outcome.error
        code = EXIT_USAGE if isinstance(error, USAGE_ERRORS) else EXIT_FAILURE
        _exit(code, _one_line(outcome.view.text))
    job = outcome.job
    for warning in job.warnings if job else ():
        print(f"mergebot: warning: {warning}", file=sys.stderr)
    data, ext = outcome.view.image, request.options.output_format
    await asyncio.to_thread(out.write_bytes, data)
    cost = f", about ${job.cost_usd:.3f}" if job and job.cost_usd is not None else ""
    print(f"mergebot: wrote {out} ({len(data)} bytes, {ext}; merge {job.id if job else '?'}{cost})", file=sys.stderr)
    return EXIT_OK


async def _print_progress(progress: Progress) -> None:
    if progress.stage is Stage.GENERATING and progress.partial_index is not None:
        line = f"preview {progress.partial_index + 1} received"
    elif progress.stage is Stage.QUEUED and progress.queue_position is not None:
        line = f"queued, position {progress.queue_position}"
    else:
        line = progress.text
    print(f"[{progress.stage.value}] {line}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


if __name__ == "__main__":
    raise SystemExit(main())
