"""The child side of the decode workers (``bot/imagework.py`` is the parent side).

Imported once by the forkserver that forks every worker, so each worker starts
with Pillow and its format plugins already loaded instead of paying for them on
its first file.
"""

from __future__ import annotations

import signal
from multiprocessing.connection import Connection

from PIL import Image, ImageCms  # noqa: F401  (loaded here so that forked workers share it)

from compose import ComposeError, normalize  # noqa: F401  (what workers run)
from compose.decode import _register_heif

Image.init()
_register_heif()


def serve(connection: Connection) -> None:
    """Run each call sent on ``connection``; answer ("ok", value), ("error", ComposeError) or ("crash", text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    while True:
        try:
            fn, args, kwargs = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, object] = ("ok", fn(*args, **kwargs))
        except ComposeError as error:
            reply = ("error", error)
        except Exception as error:  # a bug, not the file: sent as text, since it may not pickle
            reply = ("crash", f"{type(error).__name__}: {error}")
        connection.send(reply)
