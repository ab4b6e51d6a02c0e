"""Run the sandbox under uvicorn on loopback."""

from __future__ import annotations

import uvicorn

from ._app import create_app
from ._config import SandboxConfig

__all__ = ["serve"]


def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    """Serve until interrupted. Binds loopback by default: the sandbox is for local audits only."""
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=2)
