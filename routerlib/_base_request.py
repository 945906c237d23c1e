"""What every call takes besides its operation's own parameters: ``BaseRequest``.

``ChatRequest`` (``_request``: completion, text_completion) and ``EmbeddingRequest``
(``_embedding``: embedding) extend it. The call core, planning, budgets and observers read
these fields for both, and tell the two apart by ``operation``, a class constant, so that
checking it costs the chat path nothing (no call, no isinstance).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationInfo, field_validator, model_validator

from . import _checks
from ._secrets import redacted
from .cache.control import CacheControl, check_namespace
from .policy import RetryPolicy

__all__ = ["MAY_HOLD_SECRETS", "BaseRequest", "check_call_options"]

#: Fields that may hold a key (a header, a fallback or model_list entry): redacted in reprs.
MAY_HOLD_SECRETS = frozenset({"headers", "model_list", "fallbacks", "extra_body"})
_BAD_MODEL_ENDS = ("", " ", "/")


class BaseRequest(BaseModel):
    """Routing, connection, retries, prices and testing switches of one call (see the module docstring)."""

    # allow_inf_nan=False: no float or Decimal parameter may be NaN or infinite (NaN is not JSON).
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True,
                              protected_namespaces=(), allow_inf_nan=False)

    #: Which adapter methods the core calls: build_request/parse_response, or the embedding twins.
    operation: ClassVar[Literal["chat", "embeddings"]]
    #: The fields sent to the provider (``providers.base.select_params`` reads these).
    provider_params: ClassVar[tuple[str, ...]]

    model: str = Field(min_length=1)
    # -- routing and connection
    timeout: float | None = Field(default=None, strict=True, gt=0, le=_checks.TIMEOUT_MAX)
    deadline: float | None = Field(default=None, strict=True, gt=0, le=_checks.TIMEOUT_MAX)
    deployment_id: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    #: Azure OpenAI: a Microsoft Entra ID token, sent as a bearer when there is no api_key.
    azure_ad_token: str | None = Field(default=None, repr=False)
    model_list: tuple[Mapping[str, Any], ...] | None = None
    headers: Mapping[str, str] | None = None
    metadata: Mapping[str, Any] | None = None
    extra_body: Mapping[str, Any] | None = None
    drop_params: bool = Field(default=False, strict=True)
    # -- reliability (behaviour: routerlib.policy)
    num_retries: int | None = Field(default=None, strict=True, ge=0)
    #: This call's retry/fallback policy (which errors retry or fall back, backoff, caps);
    #: replaces the client's for this call only. num_retries, if given, still wins.
    policy: InstanceOf[RetryPolicy] | None = None
    fallbacks: tuple[str | Mapping[str, Any], ...] | None = None
    context_window_fallback_dict: Mapping[str, str] | None = None
    # -- cost (behaviour: routerlib.cost)
    input_cost_per_token: Decimal | None = Field(default=None, ge=0)
    output_cost_per_token: Decimal | None = Field(default=None, ge=0)
    input_cost_per_second: Decimal | None = Field(default=None, ge=0)
    output_cost_per_second: Decimal | None = Field(default=None, ge=0)
    # -- response cache (behaviour: routerlib.cache): LiteLLM's per-call controls
    cache: CacheControl | None = None
    # -- testing (behaviour: routerlib.providers.mock)
    #: LiteLLM's switch: the primary (and model_list deployments) fail with a mocked 500, so the
    #: fallbacks are exercised (answered for real, or by mock_response).
    mock_testing_fallbacks: bool | None = Field(default=None, strict=True)

    @field_validator("cache", mode="before")
    @classmethod
    def _check_cache(cls, cache: Any) -> CacheControl | None:
        """{"no-cache", "no-store", "ttl", "s-maxage", "namespace"}, as LiteLLM names them."""
        return None if cache is None else CacheControl.parse(cache)

    @field_validator("azure_ad_token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        problem = _checks.credential_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("api_version")
    @classmethod
    def _check_api_version(cls, value: str | None) -> str | None:
        if value is not None and not (value and value.isascii() and value.isprintable() and " " not in value):
            raise ValueError("must be a non-empty version string of printable ASCII without spaces")
        return value

    @field_validator("deployment_id")
    @classmethod
    def _check_deployment_id(cls, value: str | None) -> str | None:
        problem = _checks.segment_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        problem = _checks.header_problem(headers) if headers else None
        if problem is not None:
            raise ValueError(problem)
        return headers

    @field_validator("fallbacks", "model_list")
    @classmethod
    def _check_entries(cls, entries: tuple[Any, ...] | None, info: ValidationInfo) -> tuple[Any, ...] | None:
        for i, entry in enumerate(entries or ()):
            problem = (_checks.model_problem(entry) if isinstance(entry, str) else _checks.entry_problem(entry))
            if problem is not None:
                raise ValueError(f"{info.field_name}[{i}]: {problem}")
        return entries

    @field_validator("context_window_fallback_dict")
    @classmethod
    def _check_context_fallbacks(cls, mapping: Mapping[str, str] | None) -> Mapping[str, str] | None:
        for source, target in (mapping or {}).items():
            problem = _checks.model_problem(target)
            if problem is not None:
                raise ValueError(f"[{source!r}]={target!r}: {problem}")
        return mapping

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, metadata: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """user, team and tags attribute spend, redis_namespace scopes the cache: check them now, not
        when the record is written or the cache read."""
        if metadata:
            for name in ("user", "team"):
                value = metadata.get(name)
                if value is not None and (not isinstance(value, str) or not value):
                    raise ValueError(f"metadata.{name}={value!r}: must be a non-empty string")
            tags = metadata.get("tags")
            if tags is not None and not isinstance(tags, str) and not (
                    isinstance(tags, list | tuple) and all(isinstance(t, str) and t for t in tags)):
                raise ValueError(f"metadata.tags={tags!r}: must be a string or a list of non-empty strings")
            if metadata.get("redis_namespace") is not None:  # LiteLLM's per-call cache namespace
                check_namespace(metadata["redis_namespace"], "metadata.redis_namespace")
        return metadata

    @model_validator(mode="after")
    def _check_combinations(self) -> BaseRequest:
        check_call_options(self)
        return self

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # api_key is repr=False; keys can also sit in headers and in fallback/model_list entries.
        for name, value in super().__repr_args__():
            yield name, (redacted(value) if name in MAY_HOLD_SECRETS else value)

    @property
    def caller(self) -> str | None:
        """Who the call is for, for per-user budgets and cache scopes: ``metadata["user"]``, else the
        OpenAI ``user``. A blank name is no user: anonymous callers never share one bucket."""
        user = self.metadata.get("user") if self.metadata else None
        if not (isinstance(user, str) and user.strip()):
            user = getattr(self, "user", None)  # the OpenAI parameter, on chat and embeddings
        return user if user and user.strip() else None


def check_call_options(request: BaseRequest) -> None:
    """model, api_base and api_key, the values of (almost) every call: cheapest checks first, the
    reason looked up only for a bad value (``_checks`` has the rules). ``ChatRequest`` inlines the
    same three checks in its own validator, to keep a call off its hot path."""
    model = request.model
    if not (model.isprintable() and model[:1] != " " and model[-1:] not in _BAD_MODEL_ENDS):
        raise ValueError(f"model={model!r}: {_checks.model_problem(model)}")
    base = request.api_base
    if base is not None and base not in _checks.GOOD_URLS:
        problem = _checks.url_problem(base)
        if problem is not None:
            raise ValueError(f"api_base={_checks.shown_url(base)}: {problem}")
    key = request.api_key
    if key is not None and not (key.isascii() and key.isprintable() and " " not in key):
        raise ValueError(f"api_key=<hidden>: {_checks.credential_problem(key)}")
