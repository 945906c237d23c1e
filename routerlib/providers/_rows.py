"""OpenAI-compatible providers as rows of data.

Each row: name, base URL, the environment variable(s) holding the key, parameters the
provider does not take or spells differently, and quirks, each with a one-line reason.
"""

from __future__ import annotations

from typing import Any

ROWS: list[dict[str, Any]] = [
    {
        "name": "openai",
        "api_base": "https://api.openai.com/v1",
        "api_key_env": ("OPENAI_API_KEY",),
        "unsupported": ("repetition_penalty", "router_preference"),
        "quirks": {},
    },
]
