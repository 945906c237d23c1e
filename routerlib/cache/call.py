"""The cache side of one call: look up before the first attempt, store after a success.

::

    start(backend, request)          None when this call cannot use the cache (no-cache and
                                     no-store, per-user scope without a user, an uncanonical value)
    lookup(first deployment, wait)   a CachedAnswer (a hit: send nothing), or None (send)
      memory, SQLite: read; a hit ends here (no lock taken); on a miss lead or follow the
                      key's flight in this process (a follower waits for the leader's answer)
      RedisCache:     join the flight first (followers wait in this process); the leader reads
                      and on a miss takes the cross-process lock, in one round trip; a lock held
                      elsewhere: poll for that answer, at most lock_wait, then send anyway
    store(answering deployment, response, cost)   encode once, hand to followers, write, unlock
    abandon()                        failure, truncated stream, or no-store: followers call
                                     themselves, the lock is released, nothing is written

``lookup`` keys by the first deployment; ``store`` keys by the deployment that answered (a
fallback's answer is that fallback's entry, found by calls that start there). A deployment a
Router picked from a group stands for the whole group (``scope``, ``keys.group_scope``): its
answer is found by the next identical call to that group, whichever deployment it is routed
to. Everything that can go wrong with the cache (down, corrupt, slow) ends in "send as if there were no
cache", never in an error. Sync and async twins mirror each other line for line.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .control import CacheControl
from .credentials import shows_credential
from .entry import Answer, CachedAnswer, InvalidEntryError, Kind, decode, encode
from .keys import make_key, request_hash, user_scope
from .single_flight import Flight, Published

if TYPE_CHECKING:
    from .._embedding import Request
    from ..providers.base import Deployment
    from ..types import Cost
    from .base import CacheBackend

__all__ = ["CallCache"]

_POLL_FIRST, _POLL_MAX = 0.01, 0.2


class CallCache:
    """One call's use of a cache. Made by ``start``; used by one call only."""

    __slots__ = ("_done", "_flight", "_hash", "_inputs", "_kind", "_looked_up", "_lookup_key", "_token", "_user",
                 "backend", "control", "namespace", "pick_again")

    def __init__(self, backend: CacheBackend, control: CacheControl, h: Any, user: str | None, kind: Kind,
                 inputs: int | None = None, namespace: str | None = None) -> None:
        self.backend = backend
        self.control = control
        self.namespace = namespace or backend.namespace
        self._hash = h
        #: Where the lookup keyed this call: the deployment, or the scope (bytes) it stood for.
        self._looked_up: Deployment | bytes | None = None
        self._user = user
        self._kind = kind
        #: An embedding call's input count: a stored answer must hold one vector per input, in order.
        self._inputs = inputs
        self._lookup_key: str | None = None
        self._flight: Flight | None = None
        self._token: str | None = None
        self._done = False
        #: Set by the core when this call gave its deployment pick back to follow another's flight
        #: (``_core.caching``): a miss then means "pick again", not "send on that pick".
        self.pick_again = False

    @classmethod
    def start(cls, backend: CacheBackend, request: Request) -> CallCache | None:
        control = request.cache or _NO_CONTROL
        if control.no_cache and control.no_store:
            return None
        user = None
        if backend.per_user:
            user = user_scope(request)
            if user is None:
                return None  # per-user scope without a user: share nothing rather than guess
        h = request_hash(request)
        if h is None:
            return None
        # The call's namespace: cache={"namespace": ...}, else LiteLLM's metadata["redis_namespace"].
        namespace = control.namespace or (request.metadata.get("redis_namespace") if request.metadata else None)
        if request.operation == "embeddings":
            return cls(backend, control, h, user, "embedding", request.count, namespace)
        return cls(backend, control, h, user, "chat" if request.prompt is None else "text", None, namespace)

    def key_for(self, deployment: Deployment, scope: bytes | None = None) -> str | None:
        """The key of this call's answer from ``deployment``, or from any deployment of ``scope``
        (a Router group: ``keys.group_scope``)."""
        looked_up = self._looked_up
        if deployment is looked_up or (scope is not None and scope == looked_up):
            return self._lookup_key  # the answer came from where it was looked up: keyed already
        return make_key(self._hash, deployment, self.namespace, self._user, scope)

    # -- lookup
    def lookup(self, deployment: Deployment, wait: Callable[[], float],
               scope: bytes | None = None) -> CachedAnswer | None:
        """A valid, fresh answer for this call from ``deployment`` (or its ``scope``), or None to
        send the call.

        ``wait()`` is how long this call may wait for another's identical answer (asked only when
        it has to wait: a miss that leads pays nothing for it)."""
        key = self._begin(deployment, scope)
        if key is None:
            return None
        if self.control.no_cache:
            self._join(key, follow=False)
            return None
        if self.backend.lock_wait <= 0:
            return self._lookup_local(key, wait)
        return self._lookup_locking(key, wait)

    def _lookup_local(self, key: str, wait: Callable[[], float]) -> CachedAnswer | None:
        """A backend without cross-process locks (memory, SQLite): read, and on a miss lead or follow
        this process's flight. A hit takes no lock at all. (An answer stored between the read and
        the join is missed: a rare second upstream call, cheaper than reading twice on every miss.)"""
        raw = self.backend.get(key)
        if raw is not None and (answer := self._read(key, raw)) is not None:
            self._done = True
            return answer
        follower = self._join(key, follow=True)
        return None if follower is None else self._accept(follower.wait(wait()))

    def _lookup_locking(self, key: str, wait: Callable[[], float]) -> CachedAnswer | None:
        """RedisCache: join the flight first (followers wait in this process, not on Redis); the
        leader reads and, on a miss, takes the cross-process lock, in one round trip."""
        follower = self._join(key, follow=True)
        if follower is not None:
            return self._accept(follower.wait(wait()))
        token = os.urandom(16).hex() if self._flight is not None else None
        raw, lock = self.backend.get_or_lock(key, token)
        answer = self._read(key, raw)
        if answer is None and lock == "held":
            answer = self._wait_elsewhere(key, token, min(wait(), self.backend.lock_wait))
        elif lock == "locked":
            self._token = token
        if answer is not None:
            self._finish((key, answer.raw))
        return answer

    async def alookup(self, deployment: Deployment, wait: Callable[[], float],
                      scope: bytes | None = None) -> CachedAnswer | None:
        key = self._begin(deployment, scope)
        if key is None:
            return None
        if self.control.no_cache:
            self._join(key, follow=False)
            return None
        if self.backend.lock_wait <= 0:
            return await self._alookup_local(key, wait)
        return await self._alookup_locking(key, wait)

    async def _alookup_local(self, key: str, wait: Callable[[], float]) -> CachedAnswer | None:
        raw = await self.backend.aget(key)
        if raw is not None and (answer := await self._aread(key, raw)) is not None:
            self._done = True
            return answer
        follower = self._join(key, follow=True)
        return None if follower is None else self._accept(await follower.await_result(wait()))

    async def _alookup_locking(self, key: str, wait: Callable[[], float]) -> CachedAnswer | None:
        follower = self._join(key, follow=True)
        if follower is not None:
            return self._accept(await follower.await_result(wait()))
        token = os.urandom(16).hex() if self._flight is not None else None
        raw, lock = await self.backend.aget_or_lock(key, token)
        answer = await self._aread(key, raw)
        if answer is None and lock == "held":
            answer = await self._await_elsewhere(key, token, min(wait(), self.backend.lock_wait))
        elif lock == "locked":
            self._token = token
        if answer is not None:
            self._finish((key, answer.raw))
        return answer

    def _begin(self, deployment: Deployment, scope: bytes | None) -> str | None:
        if self._lookup_key is not None or self._done:
            return None  # looked up once, before the first attempt; retries and fallbacks do not
        key = self._lookup_key = self.key_for(deployment, scope)
        self._looked_up = deployment if scope is None else scope
        return key

    def _join(self, key: str, *, follow: bool) -> Flight | None:
        """Lead this key's flight (when this call may store), or return the leader's to follow."""
        flight, leading = self.backend.flights.join(key, lead=not self.control.no_store)
        if leading:
            self._flight = flight
            return None
        return flight if follow else None

    def _accept(self, published: Published | None) -> CachedAnswer | None:
        """A leader's answer, if it handed one over and it suits this call (kind, age)."""
        if published is None:
            return None
        key, raw = published
        try:
            answer = decode(key, raw, self._kind, self._inputs)
        except InvalidEntryError:
            return None
        return answer if self._fresh(answer) else None

    def _fresh(self, answer: CachedAnswer) -> bool:
        limit = self.control.s_maxage
        return limit is None or answer.age(time.time()) <= limit

    def _decode(self, key: str, raw: bytes | None) -> tuple[CachedAnswer | None, bool]:
        """(answer, whether the stored entry is invalid and must go)."""
        if raw is None:
            return None, False
        try:
            answer = decode(key, raw, self._kind, self._inputs)
        except InvalidEntryError:
            return None, True
        return (answer if self._fresh(answer) else None), False

    def _read(self, key: str, raw: bytes | None) -> CachedAnswer | None:
        answer, invalid = self._decode(key, raw)
        if invalid:
            self.backend.delete(key)
        return answer

    async def _aread(self, key: str, raw: bytes | None) -> CachedAnswer | None:
        answer, invalid = self._decode(key, raw)
        if invalid:
            await self.backend.adelete(key)
        return answer

    def _wait_elsewhere(self, key: str, token: str | None, wait: float) -> CachedAnswer | None:
        """Another process fetches this answer: poll for it, or take the lock if it is freed."""
        until = time.monotonic() + wait
        pause = _POLL_FIRST
        while (left := until - time.monotonic()) > 0:
            time.sleep(min(pause, left))
            pause = min(pause * 2, _POLL_MAX)
            raw, lock = self.backend.get_or_lock(key, token)
            answer = self._read(key, raw)
            if answer is not None or lock != "held":
                if lock == "locked":
                    self._token = token
                return answer
        return None

    async def _await_elsewhere(self, key: str, token: str | None, wait: float) -> CachedAnswer | None:
        until = time.monotonic() + wait
        pause = _POLL_FIRST
        while (left := until - time.monotonic()) > 0:
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _POLL_MAX)
            raw, lock = await self.backend.aget_or_lock(key, token)
            answer = await self._aread(key, raw)
            if answer is not None or lock != "held":
                if lock == "locked":
                    self._token = token
                return answer
        return None

    # -- the end of the call
    def _entry(self, deployment: Deployment, response: Answer,
               cost: Cost | None, scope: bytes | None) -> tuple[str, bytes] | None:
        """The answer's key and encoded entry, or None when it must not be stored."""
        if self.control.no_store or self._lookup_key is None:
            return None
        key = self.key_for(deployment, scope)
        if key is None:
            return None
        raw = encode(key, response, provider=deployment.provider, model=deployment.model, cost=cost,
                     created=time.time())
        if shows_credential(raw, deployment.secrets):
            return None  # a provider echoed a credential into its answer: never keep it for others
        return key, raw

    def store(self, deployment: Deployment, response: Answer, cost: Cost | None,
              scope: bytes | None = None) -> None:
        """The call succeeded with ``response`` from ``deployment`` (of ``scope``): share and store it (once)."""
        if self._done:
            return
        entry = self._entry(deployment, response, cost, scope)
        self._finish(entry)
        if entry is not None or self._token is not None:
            key = entry[0] if entry is not None else self._lookup_key or ""
            self.backend.set_and_unlock(key, entry[1] if entry else None, self.control.ttl, self._lookup_key,
                                        self._token)

    async def astore(self, deployment: Deployment, response: Answer,
                     cost: Cost | None, scope: bytes | None = None) -> None:
        if self._done:
            return
        entry = self._entry(deployment, response, cost, scope)
        self._finish(entry)
        if entry is not None or self._token is not None:
            key = entry[0] if entry is not None else self._lookup_key or ""
            await self.backend.aset_and_unlock(key, entry[1] if entry else None, self.control.ttl,
                                               self._lookup_key, self._token)

    def abandon(self) -> None:
        """The call failed or its stream was cut off: release followers and the lock, store nothing."""
        if self._done:
            return
        self._finish(None)
        if self._token is not None and self._lookup_key is not None:
            self.backend.set_and_unlock(self._lookup_key, None, None, self._lookup_key, self._token)

    async def aabandon(self) -> None:
        if self._done:
            return
        self._finish(None)
        if self._token is not None and self._lookup_key is not None:
            await self.backend.aset_and_unlock(self._lookup_key, None, None, self._lookup_key, self._token)

    def release_followers(self) -> None:
        """Like ``abandon`` without any I/O (for finalizers): a cross-process lock then expires by itself."""
        if not self._done:
            self._finish(None)

    def _finish(self, published: Published | None) -> None:
        """Hand ``published`` to this call's followers (if it leads) and end its part in the flight."""
        self._done = True
        flight, self._flight = self._flight, None
        if flight is not None and self._lookup_key is not None:
            self.backend.flights.finish(self._lookup_key, flight, published)


_NO_CONTROL = CacheControl()

