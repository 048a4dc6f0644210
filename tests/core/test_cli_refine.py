"""`mergebot refine`: a refine or a region edit from files, the result sent first."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from tests.compose.samples import photo
from tests.core.test_cli import mergebot
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import jpeg

SIZE = (1024, 768)
LOOP = (300, 200, 700, 560)


def result_and_marked(tmp_path: Path) -> Image.Image:
    """RESULT.png and MARKED.jpg (a magenta loop, shrunk to half and JPEG-encoded); the drawn region."""
    picture = photo(*SIZE, seed=4)
    picture.save(tmp_path / "result.png")
    copy = picture.copy()
    ImageDraw.Draw(copy).ellipse(LOOP, outline=(255, 0, 255), width=6)
    copy.resize((SIZE[0] // 2, SIZE[1] // 2), Image.Resampling.LANCZOS).save(tmp_path / "marked.jpg", quality=80)
    region = Image.new("L", SIZE, 0)
    ImageDraw.Draw(region).ellipse(LOOP, fill=255)
    return region


def iou(found: Image.Image, drawn: Image.Image) -> float:
    inside = ImageChops.multiply(found, drawn).histogram()[255]
    either = ImageChops.lighter(found, drawn).histogram()[255]
    return inside / either


async def test_dry_run_with_marked_writes_the_mask_it_would_send(tmp_path: Path) -> None:
    drawn = result_and_marked(tmp_path)
    (tmp_path / "cat.jpg").write_bytes(jpeg(640, 480, seed=2))
    code, out, err = await mergebot(
        "refine", "result.png", "cat.jpg", "--prompt", "a window here", "--marked", "marked.jpg",
        "--out", "mask.png", "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    request = json.loads(out)
    assert request["action"] == "region" and request["area"]["param"] == "mask"
    assert request["images"][0]["name"] == "picture-to-edit.png"
    assert request["images"][0]["bytes"] == (tmp_path / "result.png").stat().st_size
    assert [r["label"] for r in request["references"]] == ["A"]
    assert request["prompt"].startswith("a window here\n\n") and "Image 2 (A)" in request["prompt"]
    with Image.open(tmp_path / "mask.png") as mask:
        assert mask.format == "PNG" and mask.size == SIZE and mask.mode == "RGBA"
        alpha = mask.getchannel("A")
    # Fully transparent exactly where the edit may happen, opaque elsewhere.
    assert set(alpha.get_flattened_data()) == {0, 255}
    opened = alpha.point([255 if value == 0 else 0 for value in range(256)])
    assert iou(opened, drawn) >= 0.9


async def test_a_marked_copy_matching_nothing_is_exit_2_with_one_line(tmp_path: Path) -> None:
    result_and_marked(tmp_path)
    photo(*SIZE, seed=11).save(tmp_path / "other.png")
    code, out, err = await mergebot(
        "refine", "result.png", "--prompt", "a window", "--marked", "other.png", "--out", "mask.png", "--dry-run",
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "does not match the result" in err
    assert not (tmp_path / "mask.png").exists()
    code, _, err = await mergebot(
        "refine", "result.png", "--prompt", "a window", "--marked", "result.png", "--out", "mask.png", "--dry-run",
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 2 and "could not find any marks" in err and len(err.strip().splitlines()) == 1


async def test_refine_calls_the_api_with_the_result_first(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    drawn = result_and_marked(tmp_path)
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code, _, err = await mergebot(
        "refine", "result.png", "--prompt", "make it night", "--out", "new.png", env=env, cwd=tmp_path
    )  # fmt: skip
    assert code == 0, err
    request = openai_double.requests[-1]
    assert request.images[0].data == (tmp_path / "result.png").read_bytes() and len(request.images) == 1
    assert request.fields["prompt"].startswith("make it night") and request.mask is None
    assert (tmp_path / "new.png").stat().st_size > 0

    code, _, err = await mergebot(
        "refine", "result.png", "--prompt", "a window", "--marked", "marked.jpg", "--out", "edited.png",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    mask = openai_double.requests[-1].mask
    assert mask is not None and (mask.width, mask.height) == SIZE
    with Image.open(io.BytesIO(mask.data)) as image:
        opened = image.getchannel("A").point([255 if value == 0 else 0 for value in range(256)])
    assert iou(opened, drawn) >= 0.9


async def test_a_picture_to_edit_that_is_no_image_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_bytes(b"not a picture at all")
    code, _, err = await mergebot("refine", "notes.png", "--prompt", "x", "--dry-run", cwd=tmp_path)
    assert code == 2 and "notes.png" in err and len(err.strip().splitlines()) == 1
