"""Recognise image formats by their magic bytes, and web pages posing as images.

A file name or a Content-Type header is a claim; the first bytes are evidence.
``sniff`` names the format of an image, ``looks_like_html`` catches what a server
sends instead of an image when a link needs a login (an HTML page, an XML error
document, an SVG, a JSON error body).
"""

from __future__ import annotations

import struct

FORMATS = ("png", "jpeg", "gif", "webp", "bmp", "tiff", "heic", "heif", "avif")

MIME_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
}

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")
_TIFFS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
# Sizes of the BMP info headers that exist (OS/2 1.x, Windows 3.x, the V2..V5 extensions).
_BMP_INFO_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})

# ISO base media file brands (the ``ftyp`` box) of the HEIF family.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_MARKUP_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<svg", b"<head", b"<body", b"<!--", b"<meta", b"<title")
_MARKUP_INSIDE = (b"<html", b"<!doctype html", b"<svg", b"<body")
_HEAD_BYTES = 1024


def sniff(data: bytes) -> str | None:
    """The image format of ``data`` (one of ``FORMATS``), or None when it is not a known image."""
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_JPEG):
        return "jpeg"
    if data.startswith(_GIFS):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(_TIFFS):
        return "tiff"
    if _is_bmp(data):
        return "bmp"
    return _heif_family(data)


def mime_type(data: bytes) -> str | None:
    """The MIME type of the image in ``data``, or None when it is not a known image."""
    kind = sniff(data)
    return MIME_TYPES[kind] if kind else None


def looks_like_html(data: bytes) -> bool:
    """Whether ``data`` is a text document (HTML, XML, SVG or JSON) rather than an image.

    This is what a file host answers when the link needs a login or a permission
    the bot lacks. A recognised image is never reported as a page, even when its
    metadata (XMP) holds markup.
    """
    if sniff(data) is not None:
        return False
    head = data[:_HEAD_BYTES]
    if head.startswith(_UTF16_BOMS):
        head = head[2:].replace(b"\x00", b"")  # keep the ASCII letters of UTF-16 text
    elif head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    text = head.lstrip(b" \t\r\n\f").lower()
    if text.startswith(_MARKUP_STARTS):
        return True
    if text[:1] in (b"{", b"[") and _mostly_text(text):
        return True
    if text[:1] == b"<" and text[1:2].isalpha() and _mostly_text(text):
        return True  # any other element: an XML error document without a prolog
    return _mostly_text(text) and any(marker in text for marker in _MARKUP_INSIDE)


def _is_bmp(data: bytes) -> bool:
    # "BM" alone matches too much text; the info header size must also be a real one.
    if len(data) < 18 or not data.startswith(b"BM"):
        return False
    (info_size,) = struct.unpack_from("<I", data, 14)
    return info_size in _BMP_INFO_SIZES


def _heif_family(data: bytes) -> str | None:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    (box_size,) = struct.unpack_from(">I", data, 0)
    box_end = min(len(data), box_size if box_size >= 16 else 16)
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, box_end - 3, 4)}
    for brands in ({major}, compatible):  # the major brand decides before the compatible ones
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIC_BRANDS:
            return "heic"
        if brands & _HEIF_BRANDS:
            return "heif"
    return None


def _mostly_text(data: bytes) -> bool:
    if not data:
        return False
    printable = sum(1 for byte in data if byte >= 0x20 or byte in (0x09, 0x0A, 0x0D))
    return printable / len(data) > 0.95
