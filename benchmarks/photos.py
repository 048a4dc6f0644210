"""Photo-like test images for benchmarks, made once and cached under benchmarks/.cache/."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

CACHE = Path(__file__).resolve().parent / ".cache"


def photo(width: int = 4000, height: int = 3000, seed: int = 0) -> Image.Image:
    """Smooth gradients, shapes and sensor-like noise: compresses like a photo, not a flat fill."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for c in range(3):
        fx, fy = rng.uniform(1, 6, 2).tolist()
        phase = rng.uniform(0, 6.28)
        base = 128 + 90 * np.sin(x / width * fx * 3.14 + phase) * np.cos(y / height * fy * 3.14 + c)
        channels.append(base)
    pixels = np.stack(channels, axis=-1)
    pixels += rng.normal(0, 12, size=pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def photo_path(seed: int, width: int = 4000, height: int = 3000, fmt: str = "JPEG", quality: int = 90) -> Path:
    """The cached file of a ``width`` x ``height`` photo-like picture in ``fmt`` (JPEG at ``quality``, or PNG)."""
    if fmt == "JPEG":
        path = CACHE / f"photo-{width}x{height}-q{quality}-{seed}.jpg"
        params: dict[str, object] = {"quality": quality}
    else:
        path = CACHE / f"photo-{width}x{height}-{seed}.{fmt.lower()}"
        params = {}
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        photo(width, height, seed).save(buffer, fmt, **params)
        path.write_bytes(buffer.getvalue())
    return path


def photo_jpeg(seed: int, width: int = 4000, height: int = 3000, quality: int = 90) -> bytes:
    """A cached ``width`` x ``height`` photo-like JPEG."""
    return photo_path(seed, width, height, "JPEG", quality).read_bytes()
