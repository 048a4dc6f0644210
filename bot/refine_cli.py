"""``mergebot refine``: a Refine or a region edit from files, through the same service as a merge.

    mergebot refine RESULT.png [REFERENCE...] --prompt TEXT [--marked MARKED.png] --out new.png
                    [--mode ...] [--model NAME] [--size WxH|auto] [--quality ...] [--dry-run] [--quiet | --json]

RESULT is sent as image 1 at its own size, the references after it as the mode allows. With
``--marked`` (a copy of RESULT with the area to change drawn on it) only that area may change.
``--dry-run`` calls nothing: it writes what it would send for the area (the mask, a PNG the size of
RESULT transparent exactly where the edit may happen; the markup on models that take that instead),
or without ``--marked`` the picture it would send first, and prints the request as JSON. Exit codes
as for ``mergebot merge``: a marked copy that matches nothing is exit 2 with one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .choices import Mode

if TYPE_CHECKING:
    from .cli import Reporter, _Parser
    from .dryrun import PlannedCall
    from .model import Job, MergeRequest
    from .settings import Settings


def add_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """``mergebot refine`` and its options (imports nothing heavy: ``--help`` stays quick)."""
    refine = commands.add_parser("refine", help="change only what you say in a result (or only a marked area)")
    refine.add_argument("result", metavar="RESULT", help="the picture to edit (PNG, JPEG or WebP), sent first")
    refine.add_argument("references", nargs="*", metavar="REFERENCE", help="references sent after it (A, B, C…)")
    refine.add_argument("--prompt", "-p", required=True, help="what should change")
    refine.add_argument("--marked", metavar="MARKED", help="a copy of RESULT with the area to change drawn on it")
    refine.add_argument("--mode", choices=[m.value for m in Mode], help="how the references go (as for merge)")
    refine.add_argument("--size", default="auto", help="WxH (e.g. 1536x1024) or auto")
    refine.add_argument("--quality", default="auto", choices=["low", "medium", "high", "auto"])
    refine.add_argument("--model", help="image model (default: MERGEBOT_MODEL or gpt-image-2)")
    refine.add_argument("--out", "-o", type=Path, default=Path("refined.png"), help="output file (.png .jpg .webp)")
    refine.add_argument(
        "--dry-run", action="store_true", help="call no API: write the mask (with --marked) and print the request"
    )
    output = refine.add_mutually_exclusive_group()
    output.add_argument("--quiet", "-q", action="store_true", help="print nothing but a failure's one line")
    output.add_argument("--json", action="store_true", help="print the outcome as one JSON object on stdout")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from .cli import EXIT_USAGE, UsageError, _generate, _options, _reporter, _user, check_out, read_sources
    from .model import EditSource, MergeRequest, Origin

    reporter = _reporter(args)
    try:
        options = _options(args, settings)
        if args.dry_run and args.marked and options.output_format != "png":
            raise UsageError(
                f"--dry-run --marked writes the mask, a PNG: --out must end in .png, not {args.out.name!r}"
            )
        check_out(args.out)
        limit = settings.limits.max_image_bytes
        (picture,), _ = read_sources([args.result], skip_bad=False, max_bytes=limit)
        marked = read_sources([args.marked], skip_bad=False, max_bytes=limit)[0][0] if args.marked else None
        references, _ = read_sources(args.references, skip_bad=False, max_bytes=limit)
    except UsageError as exc:
        reporter.fail(EXIT_USAGE, str(exc))
    origin = Origin(platform="cli", workspace_id="local", channel_id="terminal", user_id=_user())
    request = MergeRequest(origin, references, options, skip_bad=False, edit=EditSource(picture, marked))
    runner = _dry_run if args.dry_run else _generate
    return asyncio.run(runner(request, settings, args.out, reporter))


async def _dry_run(request: MergeRequest, settings: Settings, out: Path, reporter: Reporter) -> int:
    import asyncio
    import json

    from .cli import EXIT_FAILURE, EXIT_OK, _outcome, write_atomically

    outcome, _, planned, _ = await _outcome(request, settings, reporter, dry=True)
    job = outcome.job
    if job is None or planned is None:
        reporter.fail(EXIT_FAILURE, "the dry run planned no call")
    written = planned.area.image.data if planned.area is not None else planned.images[0].data
    if planned.area is None:
        from .cli import _write_image

        await asyncio.to_thread(_write_image, out, written, request.options.output_format)
    else:
        await asyncio.to_thread(write_atomically, out, written)
    reporter.warn(job.warnings)
    reporter.clear()
    print(json.dumps(describe(job, planned, out), indent=2, ensure_ascii=False))
    return EXIT_OK


def describe(job: Job, planned: PlannedCall, out: Path) -> dict[str, Any]:
    """The call a refine would make, for ``--dry-run``."""
    from io import BytesIO

    from PIL import Image

    options = planned.options
    area: dict[str, Any] | None = None
    if planned.area is not None:
        with Image.open(BytesIO(planned.area.image.data)) as image:
            alpha = image.getchannel("A")
            opened = alpha.histogram()[0] if planned.area.param == "mask" else sum(alpha.histogram()[1:])
            area = {
                "param": planned.area.param,
                "width": image.width,
                "height": image.height,
                "bytes": len(planned.area.image.data),
                "editable_fraction": round(opened / (image.width * image.height), 4),
                "written_to": str(out),
            }
    return {
        "endpoint": "images.edit",
        "action": "region" if planned.area is not None else "refine",
        "model": options.model,
        "mode": options.mode.value,
        "prompt": planned.prompt,
        "size": options.size,
        "quality": options.quality,
        "output_format": options.output_format,
        "images": [{"name": f.name, "mime": f.mime, "bytes": len(f.data)} for f in planned.images],
        "area": area,
        "references": [{"label": ref.label, "source": ref.source} for ref in job.references],
        "warnings": list(job.warnings),
    }
