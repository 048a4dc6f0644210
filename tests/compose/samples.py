"""Small, deterministic pictures in every format and mode the compose tests need."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

RED = (220, 30, 30)
BLUE = (30, 60, 220)
GREEN = (30, 170, 60)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def solid(width: int, height: int, color: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (width, height), color)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Gradient plus shapes: busy enough that encoders cannot shrink it to nothing."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40 + seed % 20)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    draw = ImageDraw.Draw(image)
    for index in range(6):
        x = (seed * 37 + index * 53) % max(1, width)
        y = (seed * 17 + index * 29) % max(1, height)
        draw.ellipse((x, y, x + width // 4, y + height // 4), fill=(40 * index % 255, 200, 90))
    return image


def halves(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    """Left half one colour, right half another: shows which way a picture was turned."""
    image = Image.new("RGB", (width, height), left)
    image.paste(right, (width // 2, 0, width, height))
    return image


def jpeg_with_orientation(orientation: int, width: int = 80, height: int = 40) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(halves(width, height, RED, BLUE), "JPEG", quality=95, exif=exif.tobytes())


def animated(fmt: str, first: tuple[int, int, int] = RED, second: tuple[int, int, int] = BLUE) -> bytes:
    frames = [solid(48, 32, first), solid(48, 32, second)]
    params: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(frames[0], fmt, **params)


def transparent_rgba(width: int = 60, height: int = 40) -> Image.Image:
    """Opaque red left half, fully transparent right half."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 0, width // 2, height))
    return image


def palette_with_transparency() -> bytes:
    image = transparent_rgba().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    # Index of the transparent colour: whatever the right half was mapped to.
    transparent_index = image.getpixel((59, 0))
    return encode(image, "PNG", transparency=transparent_index)


def grey_alpha() -> bytes:
    return encode(transparent_rgba().convert("LA"), "PNG")


def sixteen_bit_grey(level: int = 65535 // 2) -> bytes:
    image = Image.new("I;16", (40, 30), level)
    return encode(image, "PNG")


def cmyk_jpeg() -> bytes:
    return encode(solid(40, 30, RED).convert("CMYK"), "JPEG", quality=95)


def cmyk_tiff() -> bytes:
    return encode(solid(40, 30, RED).convert("CMYK"), "TIFF")


def float_tiff() -> bytes:
    return encode(Image.new("F", (40, 30), 0.5), "TIFF")


def bilevel_bmp() -> bytes:
    return encode(Image.new("1", (40, 30), 1), "BMP")


def heic(image: Image.Image) -> bytes:
    from pillow_heif import from_pillow

    buffer = io.BytesIO()
    from_pillow(image).save(buffer, format="HEIF", quality=90)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width`` x ``height`` RGB pixels (a bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen and frame declare ``width`` x ``height``."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b";"


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(photo(width, height, seed), "PNG")
