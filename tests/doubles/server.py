"""Starting a double's aiohttp app on a free loopback port."""

from __future__ import annotations

from aiohttp import web


async def serve_locally(app: web.Application, host: str = "127.0.0.1") -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host`` at a free port; the runner (``cleanup()`` stops it) and the port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    return runner, int(runner.addresses[0][1])
