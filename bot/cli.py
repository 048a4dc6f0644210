"""The ``mergebot`` command.

    mergebot merge IMAGE... --prompt TEXT [--mode auto|collage|separate|hybrid] [--weight A=2 ...]
                  [--role A=subject ...] [--strength B=high ...]
                  [--size WxH|auto] [--quality low|medium|high|auto] [--model NAME]
                  [--out PATH] [--variations N] [--dry-run] [--skip-bad] [--quiet | --json]
    mergebot refine RESULT [REFERENCE...] --prompt TEXT [--marked MARKED] [--out PATH] [--variations N] [--dry-run] ...
    mergebot run                 start every configured chat platform
    mergebot health              say whether a running bot is healthy (exit 0) or not (1), and what was checked
    mergebot migrate-store       copy a SQLite install to MERGEBOT_DATABASE_URL / MERGEBOT_BLOB_URL
    mergebot --version
    mergebot discord sync|invite (from the Discord platform's entry point)

The contract scripts rely on: exit 0 success, 2 bad usage or input (a missing file, a
directory, a URL, an unreadable or unusable file, a bad setting, an unwritable --out),
1 a failure. The reason is one line on stderr, never a traceback. Progress is a live line
on stderr only when stderr is a terminal. Every check runs before any API call: --out is
tried first, and --dry-run runs the real service with a generator that calls nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

# Only what the parser needs is imported here: `mergebot --help` loads no part of the bot, and each
# command imports what it uses when it runs.
from .choices import MAX_VARIATIONS, ROLE_WORDS, STRENGTH_WORDS, Mode

if TYPE_CHECKING:
    from .dryrun import PlannedCall
    from .model import ImageSource, Job, MergeOptions, MergeRequest, Outcome, Progress, Role
    from .settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
WEIGHT = re.compile(r"^(?P<label>[A-Z]{1,2})=(?P<weight>\d+(?:\.\d+)?)$")
SIZE = re.compile(r"^(auto|\d{2,5}x\d{2,5})$")
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
CLI_STORE = "cli"  # the CLI's own store under the data dir, so it runs beside a bot using the same dir


class UsageError(Exception):
    """Bad command-line usage or input; exits 2."""


def _exit(code: int, message: str) -> NoReturn:
    print(f"mergebot: {_one_line(message)}", file=sys.stderr)
    raise SystemExit(code)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (scripts read the last line of stderr)."""

    def error(self, message: str) -> NoReturn:
        _exit(EXIT_USAGE, f"{message} (see `{self.prog} --help`)")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("mergebot")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata costs start-up time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> NoReturn:
        print(f"mergebot {version()}")
        parser.exit()


CORE_COMMANDS = ("merge", "run", "health", "migrate-store")


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="mergebot", description="Merge reference images with OpenAI's GPT Image models.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True)

    merge = commands.add_parser("merge", help="merge local images from the terminal")
    merge.add_argument("images", nargs="+", metavar="IMAGE", help="image files; labeled A, B, C… in this order")
    merge.add_argument("--prompt", "-p", required=True, help="what to make of the references")
    merge.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        help="auto (default: each image on its own within the model's limit, else the sheet), "
        "collage (one labeled sheet), separate, or hybrid (the sheet, then each image)",
    )
    merge.add_argument("--weight", "-w", action="append", default=[], metavar="A=2", help="weight of a reference")
    merge.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="A=subject",
        help=f"what to take from a reference: {', '.join(ROLE_WORDS)} (repeatable)",
    )
    merge.add_argument(
        "--strength",
        action="append",
        default=[],
        metavar="B=high",
        help=f"how strongly to follow a reference: {', '.join(STRENGTH_WORDS)} (repeatable)",
    )
    merge.add_argument("--size", default="auto", help="WxH (e.g. 1536x1024) or auto")
    merge.add_argument("--quality", default="auto", choices=["low", "medium", "high", "auto"])
    merge.add_argument("--model", help="image model (default: MERGEBOT_MODEL or gpt-image-2)")
    merge.add_argument(
        "--variations",
        type=int,
        metavar="N",
        help=f"pictures from the one call, 1 to {MAX_VARIATIONS} (default: MERGEBOT_VARIATIONS or 1); "
        "more than one writes OUT-1, OUT-2…",
    )
    merge.add_argument("--out", "-o", type=Path, default=Path("merged.png"), help="output file (.png .jpg .webp)")
    merge.add_argument("--dry-run", action="store_true", help="run every check, write the sheet; call no API")
    merge.add_argument("--skip-bad", action="store_true", help="skip unusable files with a warning instead of exit 2")
    output = merge.add_mutually_exclusive_group()
    output.add_argument("--quiet", "-q", action="store_true", help="print nothing but a failure's one line")
    output.add_argument("--json", action="store_true", help="print the outcome as one JSON object on stdout")

    from . import refine_cli

    refine_cli.add_parser(commands)
    commands.add_parser("run", help="start every chat platform whose credentials are set")
    commands.add_parser(
        "health",
        help="check a running bot: its heartbeat, and its store, blobs and chat connections (Docker healthcheck)",
    )
    _add_platform_commands(commands, argv)
    migrate = commands.add_parser(
        "migrate-store", help="copy a SQLite install's jobs and images to MERGEBOT_DATABASE_URL / MERGEBOT_BLOB_URL"
    )
    migrate.add_argument("--from", dest="source", type=Path, help="the old data directory (default MERGEBOT_DATA_DIR)")
    return parser


def _add_platform_commands(commands: argparse._SubParsersAction[_Parser], argv: Sequence[str]) -> None:
    """Each installed platform may add ``mergebot <name> ...``; it is imported only when asked for.

    A core command needs no platform's: the entry points are not even looked up for it.
    """
    if argv[:1] and argv[0] in CORE_COMMANDS:
        return
    from . import platforms
    from .errors import ConfigError

    for name in platforms.installed():
        if argv[:1] == [name]:
            try:
                if platforms.add_cli(name, commands):
                    continue
            except ConfigError as exc:
                _exit(EXIT_USAGE, exc.user_message)
        commands.add_parser(name, help=f"{name.title()} set-up: `mergebot {name} --help`", add_help=False)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; never a traceback, whatever the input or settings."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        _exit(EXIT_FAILURE, "interrupted")
    except Exception as exc:  # the contract: one line, not a traceback
        _exit(EXIT_FAILURE, f"unexpected {type(exc).__name__}; nothing was written. Please report it.")


def _main(argv: list[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    from .errors import ConfigError
    from .settings import Settings

    try:
        settings = Settings.from_env(dotenv=Path(".env"))
    except ConfigError as exc:
        _exit(EXIT_USAGE, exc.user_message)
    if args.command == "merge":
        return _merge(args, settings)
    if args.command == "refine":
        from . import refine_cli

        return refine_cli.run(args, settings)
    if args.command == "run":
        return _run(settings)
    if args.command == "migrate-store":
        return _migrate_store(settings, args.source or settings.data_dir)
    if args.command == "health":
        return _health(settings)
    handler = getattr(args, "func", None)  # set by a platform's add_cli
    if handler is None:
        _exit(EXIT_USAGE, f"`mergebot {args.command}` has no commands here; see `mergebot {args.command} --help`")
    return int(handler(args))


def _health(settings: Settings) -> int:
    """The heartbeat of a bot running from this data directory, and its /readyz when it serves one.

    Every line goes to stdout when all is healthy, to stderr when something is not.
    """
    from .health import check_heartbeat, fetch_readiness

    healthy, report = check_heartbeat(settings.data_dir)
    lines = [report]
    if settings.health_port is not None:
        for check in fetch_readiness(settings.health_port):
            healthy = healthy and check.ok
            lines.append(f"{'ok' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    for line in lines:
        print(f"mergebot: {line}", file=sys.stdout if healthy else sys.stderr)
    return EXIT_OK if healthy else EXIT_FAILURE


def _migrate_store(settings: Settings, source: Path) -> int:
    import asyncio

    from .errors import ConfigError, MergebotError
    from .migrate import migrate_store

    try:
        copied = asyncio.run(migrate_store(settings, source))
    except MergebotError as exc:
        _exit(EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE, exc.user_message)
    print(
        f"copied {copied.jobs} jobs and {copied.blobs} images ({copied.blob_bytes / 1e6:.1f} MB) from {source}"
        + (f"; {copied.missing_blobs} damaged images were skipped" if copied.missing_blobs else "")
    )
    return EXIT_OK


def _run(settings: Settings) -> int:
    from .logs import configure
    from .runner import missing_settings, run

    problem = missing_settings(settings)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    configure(settings)
    import asyncio

    from .errors import ConfigError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings))
    except ConfigError as exc:
        _exit(EXIT_USAGE, _one_line(exc.user_message))
    _exit_without_teardown(EXIT_OK)


def _exit_without_teardown(code: int) -> NoReturn:
    """End a stopped ``mergebot run`` at once: everything is stored and closed by now, and the
    interpreter's own teardown (freeing every object of a process that served a while) was
    most of a stop's time: 0.8 s of 0.9 s after a few merges at load 8, seconds at load 10,
    against a 10 s Docker grace. Logs and streams are flushed first; the decode workers and
    their forkserver end by themselves when their pipes to this process close."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


# -- merge: input ------------------------------------------------------------------------------


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


def parse_roles(
    roles: Sequence[str], strengths: Sequence[str], count: int
) -> tuple[dict[str, Role], dict[str, float]]:
    """``--role`` and ``--strength`` values as a request's roles and weights, for ``count`` images.

    ``UsageError`` for a role or strength that does not exist, or a label past the last image.
    """
    from compose.layout import sheet_label

    from .errors import InputError
    from .roles import check_labels, merge_assignments, parse_assignments, request_maps

    parts = []
    for flag, values, words in (("--role", roles, ROLE_WORDS), ("--strength", strengths, STRENGTH_WORDS)):
        for value in values:
            label, sep, word = value.partition("=")
            if not sep or word.strip().lower() not in words:
                raise UsageError(f"{flag} takes LABEL=WORD with one of {', '.join(words)}, got {value!r}")
            try:
                parts.append(parse_assignments(f"{label.strip()}={word.strip()}"))
            except InputError as exc:
                raise UsageError(f"{flag}: {exc.user_message}") from None
    assignments = merge_assignments(parts)
    try:
        check_labels(assignments, [sheet_label(index) for index in range(count)])
    except InputError as exc:
        raise UsageError(exc.user_message) from None
    return request_maps(assignments)


def _unreadable(raw: str, max_bytes: int) -> str | None:
    """Why the argument ``raw`` is not a file the CLI can read, or None."""
    if URL.match(raw):
        return "is a URL; the CLI merges local files only (download it first)"
    path = Path(raw)
    try:
        if path.is_dir():
            return "is a directory, not an image file"
        size = path.stat().st_size
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if size > max_bytes:
        return f"is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.1f} MB limit (MERGEBOT_MAX_IMAGE_BYTES)"
    if not os.access(path, os.R_OK):
        return "cannot read it (permission denied)"
    return None


def read_sources(
    paths: Sequence[str], *, skip_bad: bool, max_bytes: int, meanwhile: Callable[[], object] | None = None
) -> tuple[tuple[ImageSource, ...], list[str]]:
    """The files as sources, in order; with ``skip_bad`` a warning for each unusable one, else UsageError.

    They are read on two threads (a read lets go of the GIL), while this one runs ``meanwhile``."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="read") as readers:
        reading = [readers.submit(_read_source, raw, max_bytes) for raw in paths]
        if meanwhile is not None:
            meanwhile()
        sources, warnings = [], []
        for raw, future in zip(paths, reading, strict=True):
            source, problem = future.result()
            if source is not None:
                sources.append(source)
            elif not skip_bad:
                raise UsageError(f"{raw}: {problem}")
            else:
                warnings.append(f"Skipped {raw}: {problem}")
    return tuple(sources), warnings


def _read_source(raw: str, max_bytes: int) -> tuple[ImageSource | None, str]:
    from .model import ImageSource

    problem = _unreadable(raw, max_bytes)
    if problem is not None:
        return None, problem
    try:
        return ImageSource(name=Path(raw).name, data=Path(raw).read_bytes()), ""
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"


def _load_service() -> None:
    """Import the merge service (about 50 ms of module code) while the files are read.

    The modules' objects then leave the collector's watch (``gc.freeze``): they live as long as the
    process, and the collections a merge's allocations set off would otherwise walk them all each time."""
    import gc

    from . import service  # noqa: F401

    gc.freeze()


def _options(args: argparse.Namespace, settings: Settings) -> MergeOptions:
    from .model import MergeOptions

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
        n=_variations(getattr(args, "variations", None), settings),  # `mergebot refine` takes the default
    )


def _variations(asked: int | None, settings: Settings) -> int:
    if asked is None:
        return settings.variations
    if not 1 <= asked <= MAX_VARIATIONS:
        raise UsageError(f"--variations takes 1 to {MAX_VARIATIONS}, got {asked}")
    return asked


def variation_paths(out: Path, count: int) -> list[Path]:
    """Where the pictures of one merge go: ``out`` itself for one, ``out-1.png`` … for several."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{number}{out.suffix}") for number in range(1, count + 1)]


def check_out(out: Path) -> None:
    """Refuse, before anything is spent, an --out that cannot be written."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'merged.png'}")
    import tempfile

    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--out {out}: the folder {parent} does not exist")
    try:
        handle, probe = tempfile.mkstemp(prefix=".mergebot-", dir=parent)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write in {parent} ({exc.strerror or exc})") from None
    os.close(handle)
    os.unlink(probe)
    if out.exists() and not os.access(out, os.W_OK):
        raise UsageError(f"--out {out}: the file exists and cannot be overwritten")


def write_atomically(out: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or pieces written in turn) to ``out`` through a temporary file beside it,
    so a failure leaves no half file."""
    import tempfile

    handle, temporary = tempfile.mkstemp(prefix=".mergebot-", dir=out.parent if str(out.parent) else ".")
    try:
        with os.fdopen(handle, "wb") as stream:
            for piece in [data] if isinstance(data, bytes) else data:
                stream.write(piece)
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- merge: output -----------------------------------------------------------------------------


class Reporter:
    """What the CLI prints: a live progress line on a terminal, nothing of it when piped."""

    def __init__(self, stream: IO[str], live: bool, quiet: bool = False, as_json: bool = False) -> None:
        self.stream = stream
        self.live = live
        self.quiet = quiet
        self.as_json = as_json
        self._shown = False

    async def progress(self, update: Progress) -> None:
        from .model import Stage

        if not self.live:
            return
        if update.stage is Stage.GENERATING and update.partial_index is not None:
            line = f"generating… preview {update.partial_index + 1} received"
        elif update.stage is Stage.QUEUED and update.queue_position is not None:
            line = f"queued, position {update.queue_position}"
        else:
            line = update.text
        self.stream.write(f"\r\x1b[K{_one_line(line)[:200]}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def warn(self, lines: Sequence[str]) -> None:
        if self.quiet or self.as_json:
            return
        for line in lines:
            print(f"mergebot: warning: {_one_line(line)}", file=self.stream)

    def done(self, human: str, record: dict[str, Any]) -> None:
        import json

        self.clear()
        if self.as_json:
            print(json.dumps({"ok": True, **record}, ensure_ascii=False))
        elif not self.quiet:
            print(f"mergebot: {human}", file=self.stream)

    def fail(self, code: int, message: str) -> NoReturn:
        import json

        self.clear()
        if self.as_json:
            print(json.dumps({"ok": False, "exit": code, "error": _one_line(message)}, ensure_ascii=False))
        _exit(code, message)


def _reporter(args: argparse.Namespace) -> Reporter:
    live = sys.stderr.isatty() and not args.quiet and not args.json
    return Reporter(sys.stderr, live=live, quiet=args.quiet, as_json=args.json)


def cli_data_dir(settings: Settings) -> Path:
    """Where CLI merges keep their records: beside the bot's, in their own store."""
    return settings.data_dir / CLI_STORE


def _merge(args: argparse.Namespace, settings: Settings) -> int:
    reporter = _reporter(args)
    try:
        options = _options(args, settings)
        weights = parse_weights(args.weight)
        for path in variation_paths(args.out, 1 if args.dry_run else options.n):
            check_out(path)
        sources, warnings = read_sources(
            args.images, skip_bad=args.skip_bad, max_bytes=settings.limits.max_image_bytes, meanwhile=_load_service
        )
    except UsageError as exc:
        reporter.fail(EXIT_USAGE, str(exc))
    if not sources:
        reporter.fail(EXIT_USAGE, "none of the image files could be read")
    reporter.warn(warnings)
    try:
        roles, strengths = parse_roles(args.role, args.strength, len(sources))
    except UsageError as exc:
        reporter.fail(EXIT_USAGE, str(exc))
    from .model import MergeRequest, Origin

    origin = Origin(platform="cli", workspace_id="local", channel_id="terminal", user_id=_user())
    request = MergeRequest(origin, sources, options, {**weights, **strengths}, roles=roles, skip_bad=args.skip_bad)
    runner = _dry_run if args.dry_run else _generate
    import asyncio  # here, not at the top: `mergebot --help` stays quick

    return asyncio.run(runner(request, settings, args.out, reporter))


async def _outcome(
    request: MergeRequest, settings: Settings, reporter: Reporter, *, dry: bool
) -> tuple[Outcome, bytes | None, PlannedCall | None, list[bytes]]:
    """Run the request through the service; for a dry run, on a throwaway store with a generator
    that calls nothing. Returns the outcome, the job's sheet, (dry run) the call it would make,
    and the pictures made (each variation)."""
    import tempfile
    from dataclasses import replace

    from .dryrun import DryRunGenerator
    from .errors import ConfigError, FetchError, InputError, LimitExceeded
    from .service import MergeService

    recorder = DryRunGenerator() if dry else None
    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mergebot-dry-run-"))) if dry else None
        # Always a local SQLite store of its own: never the bot's database, queue or object storage.
        run_settings = replace(
            settings,
            data_dir=data_dir or cli_data_dir(settings),
            store_driver="sqlite",
            database_url=None,
            object_storage=None,
        )
        try:
            service = await MergeService.open(run_settings, generator=recorder, keep_references=not dry)
        except ConfigError as exc:
            reporter.fail(EXIT_USAGE, exc.user_message)
        except OSError as exc:
            reporter.fail(
                EXIT_FAILURE,
                f"cannot use the data directory {run_settings.data_dir} ({exc.strerror or exc}); set MERGEBOT_DATA_DIR",
            )
        try:
            outcome = await service.merge(request, reporter.progress)
            sheet = await service.sheet_image(outcome.job) if outcome.job is not None else None
            results = await service.result_images(outcome.job) if outcome.job is not None and not dry else []
        finally:
            await service.aclose()
    if not outcome.ok or outcome.view.image is None:
        usage_errors = (InputError, FetchError, ConfigError, LimitExceeded)
        code = EXIT_USAGE if isinstance(outcome.error, usage_errors) else EXIT_FAILURE
        reporter.fail(code, outcome.view.text)
    planned = recorder.calls[-1] if recorder is not None and recorder.calls else None
    return outcome, sheet, planned, results


async def _dry_run(request: MergeRequest, settings: Settings, out: Path, reporter: Reporter) -> int:
    import asyncio
    import json

    outcome, sheet, planned, _ = await _outcome(request, settings, reporter, dry=True)
    job = outcome.job
    if job is None or sheet is None or planned is None:
        reporter.fail(EXIT_FAILURE, "the dry run produced no reference sheet")
    reporter.warn(job.warnings)
    width, height = await asyncio.to_thread(_write_image, out, sheet, request.options.output_format)
    reporter.clear()
    print(json.dumps(_describe(job, planned, sheet, (width, height)), indent=2, ensure_ascii=False))
    return EXIT_OK


def _write_image(out: Path, data: bytes, fmt: str) -> tuple[int, int]:
    """Write ``data`` (any picture) to ``out`` in ``fmt``; returns its size.

    The sheet's own bytes when they are already ``fmt``; else a fast encoding (PNG: ``fast_png_pieces``,
    streamed to the file as its bands are deflated on two threads, where Pillow's default level takes
    1.8 s for a 2048-px sheet).
    """
    import io

    from PIL import Image

    from compose.encode import encode, fast_png_pieces

    with Image.open(io.BytesIO(data)) as image:
        size = image.size
        if image.format == PIL_FORMATS[fmt]:
            write_atomically(out, data)
            return size
        mode = "RGBA" if "A" in image.getbands() else "RGB"
        image.load()
        picture = image if image.mode == mode else image.convert(mode)  # convert() always copies
        write_atomically(out, fast_png_pieces(picture) if fmt == "png" else encode(picture, fmt, compact=False))
    return size


def _describe(job: Job, planned: PlannedCall, sheet: bytes, size: tuple[int, int]) -> dict[str, Any]:
    from .modes import choose_mode

    options = planned.options
    choice = choose_mode(job.options.mode, job.options.model, job.references, lead=job.options.lead)
    boxes = job.sheet_boxes
    covered = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes.values())
    return {
        "endpoint": "images.edit",
        "model": options.model,
        "mode": choice.mode.value,
        "requested_mode": options.mode.value,
        "mode_note": choice.note,
        "prompt": planned.prompt,
        "size": options.size,
        "quality": options.quality,
        "n": options.n,
        "output_format": options.output_format,
        "input_fidelity": options.input_fidelity,
        "images": [{"name": f.name, "mime": f.mime, "bytes": len(f.data)} for f in planned.images],
        "references": [
            {
                "label": ref.label,
                "role": ref.role.value,
                "strength": ref.strength.value,
                "weight": ref.weight,
                "source": ref.source,
                "caption": ref.caption,
                "width": ref.width,
                "height": ref.height,
                "bytes": ref.byte_size,
            }
            for ref in job.references
        ],
        "warnings": list(job.warnings),
        "sheet": {
            "width": size[0],
            "height": size[1],
            "bytes": len(sheet),
            "fill_ratio": round(covered / (size[0] * size[1]), 3),
            "boxes": {label: list(box) for label, box in boxes.items()},
        },
    }


async def _generate(request: MergeRequest, settings: Settings, out: Path, reporter: Reporter) -> int:
    import asyncio

    outcome, _, _, results = await _outcome(request, settings, reporter, dry=False)
    job = outcome.job
    if job is None or not results:
        reporter.fail(EXIT_FAILURE, "the merge produced no image")
    reporter.warn(job.warnings)
    paths = variation_paths(out, len(results))
    for path, data in zip(paths, results, strict=True):
        try:
            await asyncio.to_thread(write_atomically, path, data)
        except OSError as exc:  # checked before the call; the disk can still fill up meanwhile
            reporter.fail(EXIT_FAILURE, f"cannot write {path} ({exc.strerror or exc}); the result is merge {job.id}")
    where = cli_data_dir(settings)
    cost = f", about ${job.cost_usd:.3f}" if job.cost_usd is not None else ""
    fmt = request.options.output_format
    written = str(out) if len(paths) == 1 else f"{paths[0]} … {paths[-1].name}"
    size = sum(len(data) for data in results)
    reporter.done(
        f"wrote {written} ({size} bytes, {fmt}; merge {job.id}{cost}; its record is in {where})",
        {
            "out": str(out),
            "outs": [str(path) for path in paths],
            "bytes": size,
            "format": fmt,
            "merge": job.id,
            "cost_usd": job.cost_usd,
            "warnings": list(job.warnings),
            "data_dir": str(where),
        },
    )
    return EXIT_OK


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


if __name__ == "__main__":
    raise SystemExit(main())
