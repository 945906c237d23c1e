"""Transports by URL scheme: HTTP(S) to the network, other schemes to in-process transports.

Like httpx's ``mounts``: ``mock://`` requests (``mock_response=...``) are answered in memory
and ``litellm://`` requests are handed to LiteLLM in process, behind the same seam as every
HTTP request, so the call core has no special case for either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _scheme(url: str) -> str:
    return url.partition(":")[0]


class MountedTransport:
    """Sends each request through the transport mounted on its URL scheme, else the default."""

    def __init__(self, default: Any, mounts: Mapping[str, Any]) -> None:
        self.default = default
        self._mounts = dict(mounts)

    def _for(self, url: str) -> Any:
        if url.startswith("http"):
            return self.default
        return self._mounts.get(_scheme(url), self.default)

    def send(self, request: Any, timeout: float, **kwargs: Any) -> Any:
        url = request.url
        transport = self.default if url.startswith("http") else self._mounts.get(_scheme(url), self.default)
        return transport.send(request, timeout, **kwargs)

    def stream(self, request: Any, timeout: float, total: float | None = None) -> Any:
        # ``total`` is passed on only when given: a transport written before it existed still works.
        if total is None:
            return self._for(request.url).stream(request, timeout)
        return self._for(request.url).stream(request, timeout, total=total)

    def close(self) -> None:
        for transport in (self.default, *self._mounts.values()):
            transport.close()


class AsyncMountedTransport(MountedTransport):
    """The async twin of ``MountedTransport``."""

    async def send(self, request: Any, timeout: float, **kwargs: Any) -> Any:
        return await self._for(request.url).send(request, timeout, **kwargs)

    async def stream(self, request: Any, timeout: float, total: float | None = None) -> Any:
        if total is None:
            return await self._for(request.url).stream(request, timeout)
        return await self._for(request.url).stream(request, timeout, total=total)

    async def aclose(self) -> None:
        for transport in (self.default, *self._mounts.values()):
            await transport.aclose()
