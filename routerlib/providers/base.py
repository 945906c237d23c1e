"""The provider seam: adapters, provider rows and deployments.

An adapter is a pure translator with no I/O::

    (ChatRequest, params, Deployment) --build_request-->  HTTPRequest
    (status, headers, body)           --parse_response--> ModelResponse | TextCompletion
    (status, headers, body)           --parse_error-->    typed APIError
    SSE event                         --StreamParser-->   ChatCompletionChunk(s)

An adapter whose provider has an embeddings API also has the embedding twins
(``EmbeddingAdapter``): ``build_embedding_request`` and ``parse_embedding_response``, taking
an ``EmbeddingRequest``; its errors go through the same ``parse_error``. An adapter without
them refuses ``embedding()`` before anything is sent (``embedding_adapter``).

A ``ProviderSpec`` is one row of data: where a provider lives, which environment variable
holds its key, which parameters it takes or renames, and its quirks, each with the reason.
OpenAI-compatible gateways are rows on one adapter; a different wire format is a module.

A ``Deployment`` is one concrete target of a call: a provider row, the model name sent to
it, and the endpoint and credentials resolved for this call. Making one checks what it will
send (``_checks.check_deployment``: endpoint, model id, credentials, headers; an
``InvalidRequestError`` before anything is sent) and warns once per host when credentials
would go over plain http to a non-loopback host. ``secrets`` lists every credential value it
sends, for ``error.redact(*deployment.secrets)``; its repr shows none of them.

An adapter that puts the model name in the URL path (Gemini, Azure) sets ``model_in_url =
True``: the model id is then refused when it is not one safe path segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._checks import check_deployment
from .._request import PROVIDER_PARAMS, ChatRequest
from .._secrets import deployment_secrets, redacted, strip_userinfo
from ..exceptions import UnsupportedParamsError

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest, Request
    from ..exceptions import APIError
    from ..transport import HTTPRequest
    from ..types import ChatCompletionChunk, EmbeddingResponse, ModelResponse, TextCompletion

__all__ = [
    "Adapter",
    "Deployment",
    "DeploymentOptions",
    "EmbeddingAdapter",
    "Prices",
    "ProviderSpec",
    "StreamParser",
    "embedding_adapter",
    "select_params",
]


class StreamParser(Protocol):
    """Turns one stream's SSE events into chunks; keeps the per-stream state."""

    @property
    def done(self) -> bool:
        """True once the provider's end marker (or final event) has been seen."""
        ...

    def feed(self, event: str | None, data: bytes) -> list[ChatCompletionChunk]:
        """Chunks for one SSE event (often one, sometimes none). Raises typed errors."""
        ...


class Adapter(Protocol):
    """Translates between routerlib's OpenAI-shaped request/response and one wire format."""

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        """The HTTP request for ``request``; ``params`` are the provider params already selected."""
        ...

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes,
                       request: ChatRequest, deployment: Deployment) -> ModelResponse | TextCompletion:
        ...

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes,
                    deployment: Deployment) -> APIError:
        ...

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        ...


class EmbeddingAdapter(Protocol):
    """The embedding twins of an adapter whose provider has an embeddings API."""

    def build_embedding_request(self, request: EmbeddingRequest, params: dict[str, Any],
                                deployment: Deployment) -> HTTPRequest:
        """The HTTP request for ``request``; ``params`` are its selected provider params."""
        ...

    def parse_embedding_response(self, status: int, headers: Mapping[str, str], body: bytes,
                                 request: EmbeddingRequest, deployment: Deployment) -> EmbeddingResponse:
        """One embedding per input, in input order."""
        ...


def embedding_adapter(deployment: Deployment) -> EmbeddingAdapter:
    """The deployment's adapter as an ``EmbeddingAdapter``, or a refusal naming where embeddings go.

    ``UnsupportedParamsError``, like any parameter a provider does not take: it falls back, so
    ``fallbacks=[...]`` can name a provider that has embeddings.
    """
    adapter = deployment.spec.adapter
    if callable(getattr(adapter, "build_embedding_request", None)):
        return cast("EmbeddingAdapter", adapter)
    raise UnsupportedParamsError(
        f"{deployment.provider} has no embeddings API in routerlib: embedding() goes to OpenAI-compatible "
        f"providers, azure and gemini", provider=deployment.provider, model=deployment.model,
        code="unsupported_operation")


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as data. ``quirks`` maps each quirk to the one-line reason for it."""

    name: str
    adapter: Adapter
    api_base: str | None = None
    #: Environment variables that may hold the key, in order; empty when no key is needed.
    api_key_env: tuple[str, ...] = ()
    #: Environment variables that may hold the endpoint (when the call gives no api_base).
    api_base_env: tuple[str, ...] = ()
    #: Environment variables that may hold the API version (when the call gives none).
    api_version_env: tuple[str, ...] = ()
    #: Environment variables that may hold a bearer token used when there is no key
    #: (e.g. a Microsoft Entra ID token); resolved into ``Deployment.bearer_token``.
    token_env: tuple[str, ...] = ()
    key_required: bool = True
    #: Provider params this provider does not take (refused, or dropped with drop_params=True).
    unsupported: frozenset[str] = frozenset()
    #: Provider params spelled differently there: routerlib name -> provider name.
    renamed: Mapping[str, str] = field(default_factory=dict)
    #: Headers every request to this provider carries, besides authentication (not in the repr:
    #: a row may carry a credential here).
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: How the key is sent: "bearer", "x-api-key", "api-key", "bearer+x-api-key", "query".
    auth: str = "bearer"
    #: The provider name used as a prefix in the model map ("" for bare keys).
    price_prefix: str = ""
    quirks: Mapping[str, str] = field(default_factory=dict)
    #: Free-form adapter settings (paths, API version defaults...).
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def supported(self) -> frozenset[str]:
        return frozenset(PROVIDER_PARAMS) - self.unsupported


@dataclass(frozen=True, slots=True)
class Prices:
    """Per-deployment (or per-call) prices that replace the model map's for that call only."""

    input_cost_per_token: Decimal | None = None
    output_cost_per_token: Decimal | None = None
    input_cost_per_second: Decimal | None = None
    output_cost_per_second: Decimal | None = None

    def given(self) -> dict[str, Decimal]:
        """The prices that were set, by their parameter names."""
        return {name: value for name in PRICE_FIELDS if (value := getattr(self, name)) is not None}


#: The per-call / per-deployment price parameters, in one place.
PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token", "input_cost_per_second",
                "output_cost_per_second")


@dataclass(frozen=True, slots=True)
class DeploymentOptions:
    """What a deployment's configuration says beyond where it lives and how to authenticate.

    Routing reads ``weight``, ``rpm``, ``tpm``, ``max_parallel_requests``, ``tags`` and
    ``quality``; the call reads ``timeout``, ``prices`` and ``template``; ``max_input_tokens`` /
    ``max_output_tokens`` override the model map's limits for this deployment.
    """

    weight: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    timeout: float | None = None
    max_parallel_requests: int | None = None
    prices: Prices | None = None
    tags: tuple[str, ...] = ()
    #: A ``routerlib.prompts.PromptTemplate`` for raw-prompt providers.
    template: Any = None
    #: A quality score for ``router_preference`` (higher is better; the scale is the user's).
    quality: float | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None


NO_OPTIONS = DeploymentOptions()


@dataclass(frozen=True)
class Deployment:
    """One concrete target: provider row + model + endpoint + credentials.

    ``id`` is stable across calls and processes (routing state is keyed by it): the configured
    id when there is one, else ``provider/model@api_base``; it is never derived from a key.
    """

    spec: ProviderSpec
    model: str
    api_base: str
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: DeploymentOptions = NO_OPTIONS
    id: str = ""
    #: A bearer token sent when there is no key (Azure: an Entra ID token).
    bearer_token: str | None = field(default=None, repr=False)
    #: For providers that need max_tokens on every request: the model's own output limit.
    default_max_tokens: int | None = None

    def __post_init__(self) -> None:
        if not self.id:
            base = self.api_base if "@" not in self.api_base else strip_userinfo(self.api_base)
            object.__setattr__(self, "id", f"{self.spec.name}/{self.model}@{base}")
        check_deployment(self)

    def __repr__(self) -> str:
        return (f"Deployment(id={self.id!r}, provider={self.spec.name!r}, model={self.model!r}, "
                f"api_base={strip_userinfo(self.api_base)!r}, api_version={self.api_version!r}, "
                f"headers={redacted(self.headers, headers=True)!r}, options={self.options!r})")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential value this deployment sends: the key, the bearer token, the values of
        credential headers (``routerlib._secrets``); for ``error.redact(*deployment.secrets)``.

        Computed once per deployment (a frozen instance's ``__dict__`` holds it; not
        ``functools.cached_property``, which takes a lock on every read before Python 3.12)."""
        found: tuple[str, ...] | None = self.__dict__.get("_secrets")
        if found is None:
            found = self.__dict__["_secrets"] = deployment_secrets(self)
        return found

    @property
    def provider(self) -> str:
        return self.spec.name

    @property
    def adapter(self) -> Adapter:
        return self.spec.adapter

    @property
    def label(self) -> str:
        return f"{self.spec.name}/{self.model}"


def select_params(request: Request, spec: ProviderSpec) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The provider params of ``request`` that were given (``request.provider_params``: the chat
    or the embedding ones), renamed for ``spec``.

    A param the provider does not take (``spec.unsupported``), or takes only with some values
    (``spec.options["param_values"]``), raises ``UnsupportedParamsError`` naming it, or with
    ``drop_params=True`` is dropped and reported in the second value.
    """
    values = request.__dict__
    given = {name: values[name] for name in request.provider_params if values[name] is not None}
    dropped: tuple[str, ...] = ()
    refused = given.keys() & spec.unsupported
    if refused:
        if not request.drop_params:
            names = ", ".join(sorted(refused))
            raise UnsupportedParamsError(
                f"{spec.name} does not support {names}; pass drop_params=True to drop "
                f"unsupported parameters", provider=spec.name, code="unsupported_params")
        dropped = tuple(sorted(refused))
        for name in dropped:
            del given[name]
    allowed_values: Mapping[str, Any] = spec.options.get("param_values") or {}
    for name, values in allowed_values.items():
        if name in given and given[name] not in values:
            if not request.drop_params:
                shown = ", ".join(repr(v) for v in values)
                raise UnsupportedParamsError(
                    f"{spec.name} accepts {name} only as {shown}, got {given[name]!r}; pass "
                    f"drop_params=True to drop it", provider=spec.name, code="unsupported_params")
            del given[name]
            dropped += (name,)
    if spec.renamed:
        # Where a rename lands on a name the caller also gave (max_completion_tokens -> max_tokens),
        # the caller's own spelling of the provider's name wins.
        given = {spec.renamed.get(k, k): v for k, v in given.items()
                 if k not in spec.renamed or spec.renamed[k] not in given}
    return given, dropped
