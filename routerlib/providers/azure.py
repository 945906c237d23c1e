"""Azure OpenAI: OpenAI's wire format behind a per-deployment URL and Azure's own auth.

Only the URL and authentication differ from OpenAI; bodies, responses, streams and errors go
through ``openai_compat``::

    model="azure/<deployment>"  api_base="https://<resource>.openai.azure.com"
    POST {api_base}/openai/deployments/<deployment>/chat/completions?api-version=<version>
         ({...}/completions for text_completion calls, {...}/embeddings for embedding calls)

- **Endpoint**: ``api_base`` from the call, else ``AZURE_API_BASE`` (or ``AZURE_OPENAI_ENDPOINT``).
  A base ending in ``/openai`` is accepted too.
- **Deployment**: the name after ``azure/``; a per-call ``deployment_id`` overrides it for the
  deployment named by ``model`` (fallbacks keep their own names). Both are one URL path
  segment, percent-encoded; ``.``, ``..`` and names with ``/ \\ ? # % :``, whitespace or control
  characters are refused before anything is sent.
- **api-version**: the call's ``api_version``, else ``AZURE_API_VERSION`` (or
  ``OPENAI_API_VERSION``, the openai SDK's name), else ``DEFAULT_API_VERSION`` (the latest GA
  data-plane inference version). Before 2024-09-01 Azure rejects ``stream_options``, so with an
  older version a stream does not ask for usage (it is counted locally).
- **Auth**: an ``api-key`` header with the key from ``api_key=`` or ``AZURE_API_KEY`` (or
  ``AZURE_OPENAI_API_KEY``). Without a key, a Microsoft Entra ID token as ``Authorization:
  Bearer``: per call with ``azure_ad_token=`` (or in a fallback/model_list entry, or as
  ``headers={"Authorization": "Bearer <token>"}``), else from ``AZURE_AD_TOKEN``. Tokens are not refreshed here:
  they are values the caller obtains (azure-identity) and passes in.
- **Errors**: a prompt blocked by the content filter is a 400 with ``code: content_filter`` and
  ``innererror.code: ResponsibleAIPolicyViolation`` -> ``ContentPolicyViolationError``. The
  response's ``prompt_filter_results`` and each choice's ``content_filter_results`` are kept
  as extra fields of the response.

Environment variables are resolved by planning (from the client's ``environ=``, else the
process environment) into the deployment, so this adapter stays a pure translator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._request import ChatRequest
from ..exceptions import APIError, ContentPolicyViolationError, MissingAPIKeyError
from ..transport import HTTPRequest
from ._errors import build_error
from ._wire import dump_body
from .base import Deployment, ProviderSpec
from .openai_compat import OpenAICompatAdapter, auth_headers, embedding_body, request_body

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest, Request

__all__ = ["DEFAULT_API_VERSION", "AzureAdapter", "api_version", "azure_headers", "azure_url", "specs"]

#: Latest GA version of the dated data-plane inference API (learn.microsoft.com, "Azure OpenAI
#: API version lifecycle").
DEFAULT_API_VERSION = "2024-10-21"
_BASE_ENV = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")
_VERSION_ENV = ("AZURE_API_VERSION", "OPENAI_API_VERSION")
_TOKEN_ENV = ("AZURE_AD_TOKEN",)
_POLICY_INNER_CODES = frozenset({"ResponsibleAIPolicyViolation", "content_filter"})
#: stream_options / include_usage arrived in 2024-09-01-preview (API version lifecycle page);
#: versions are ISO dates, so they compare as strings.
_STREAM_USAGE_SINCE = "2024-09-01"


class AzureAdapter(OpenAICompatAdapter):
    """``OpenAICompatAdapter`` with Azure's deployment URL, api-version and auth."""

    #: The deployment name is a URL path segment: ``Deployment`` refuses ``..``, ``/``, ``?``, ``#``...
    model_in_url = True

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        version = api_version(deployment)
        body = request_body(request, params, deployment)
        if request.stream and request.stream_options is None and version < _STREAM_USAGE_SINCE:
            # Older api-versions reject stream_options ("Unrecognized request argument"): usage
            # is then counted locally rather than asked for.
            body.pop("stream_options", None)
        return HTTPRequest("POST", azure_url(request, deployment, version), azure_headers(deployment),
                           dump_body(body))

    def build_embedding_request(self, request: EmbeddingRequest, params: dict[str, Any],
                                deployment: Deployment) -> HTTPRequest:
        return HTTPRequest("POST", azure_url(request, deployment), azure_headers(deployment),
                           dump_body(embedding_body(request, params, deployment)))

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes,
                    deployment: Deployment) -> APIError:
        error = build_error(status, headers, body, provider=deployment.provider, model=deployment.model)
        if not isinstance(error, ContentPolicyViolationError) and _content_filtered(error.body):
            error = ContentPolicyViolationError(
                error.message, status_code=status, provider=error.provider, model=error.model,
                code=error.code, request_id=error.request_id, retry_after=error.retry_after, body=error.body)
        return error


def api_version(deployment: Deployment) -> str:
    """The call's api_version, else AZURE_API_VERSION / OPENAI_API_VERSION (planning), else the default."""
    return deployment.api_version or DEFAULT_API_VERSION


def azure_url(request: Request, deployment: Deployment, version: str | None = None) -> str:
    """``{endpoint}/openai/deployments/{name}/{chat/completions|completions|embeddings}?api-version=...``."""
    base = deployment.api_base.rstrip("/").removesuffix("/openai")
    name = deployment.model
    if request.deployment_id and request.model in (deployment.model, deployment.label):
        name = request.deployment_id
    if request.operation == "embeddings":
        path = "embeddings"
    else:
        path = "completions" if request.prompt is not None else "chat/completions"
    version = version or api_version(deployment)
    return f"{base}/openai/deployments/{quote(name, safe='')}/{path}?api-version={quote(version, safe='')}"


def azure_headers(deployment: Deployment) -> dict[str, str]:
    """An ``api-key`` header when there is a key, else ``Authorization: Bearer <Entra ID token>``."""
    headers = auth_headers(deployment.spec, deployment)
    if deployment.api_key or any(k.lower() == "authorization" for k in headers):
        return headers
    token = deployment.bearer_token
    if not token:
        raise MissingAPIKeyError(
            "no credentials for azure: pass api_key= or set AZURE_API_KEY (api-key auth), or pass "
            "headers={'Authorization': 'Bearer <token>'} or set AZURE_AD_TOKEN (Microsoft Entra ID)",
            provider=deployment.provider, model=deployment.model, code="missing_api_key")
    headers["authorization"] = "Bearer " + str(token)
    return headers


def _content_filtered(body: Any) -> bool:
    """Azure's content-filter refusal, recognised by its inner error when the outer code is absent."""
    error = body.get("error") if isinstance(body, Mapping) else None
    inner = error.get("innererror") if isinstance(error, Mapping) else None
    return isinstance(inner, Mapping) and inner.get("code") in _POLICY_INNER_CODES


def specs() -> list[ProviderSpec]:
    return [ProviderSpec(
        name="azure",
        adapter=AzureAdapter(),
        api_key_env=("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
        api_base_env=_BASE_ENV,
        api_version_env=_VERSION_ENV,
        token_env=_TOKEN_ENV,
        key_required=False,
        unsupported=frozenset({"repetition_penalty", "router_preference"}),
        auth="api-key",
        price_prefix="azure",
        quirks={
            "deployment_url": "learn.microsoft.com Azure OpenAI REST reference: POST {endpoint}/openai/"
                              "deployments/{deployment-id}/chat/completions?api-version=...",
            "api_key_or_entra": "learn.microsoft.com Azure OpenAI REST reference: an api-key header, or "
                                "Authorization: Bearer <Microsoft Entra ID token>",
            "content_filter": "learn.microsoft.com content filtering: a filtered prompt is a 400 with code "
                              "content_filter (innererror ResponsibleAIPolicyViolation)",
            "filter_results": "learn.microsoft.com content filtering: prompt_filter_results and "
                              "content_filter_results annotate responses; kept as extra fields",
            "key_optional": "a key is not required up front because an Entra ID token may be used; a call "
                            "with neither fails before sending (MissingAPIKeyError)",
        },
    )]
