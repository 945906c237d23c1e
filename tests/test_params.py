"""CompletionParams (the typed keywords) stays in step with what build_request accepts."""

from __future__ import annotations

import typing

from routerlib._request import ACCEPTED
from routerlib.params import CompletionParams


def test_typed_keywords_match_the_accepted_parameters() -> None:
    assert set(CompletionParams.__annotations__) == ACCEPTED - {"model", "messages", "prompt"}


def test_every_typed_keyword_is_optional() -> None:
    assert CompletionParams.__total__ is False
    hints = typing.get_type_hints(CompletionParams)
    assert hints["temperature"] is float and hints["num_retries"] is int
