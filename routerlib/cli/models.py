"""``routerlib models`` and ``routerlib price``: the price map's rows, and the exact cost of one request.

Both read ``ModelMap.default()``: the map every client uses, so what they print is what a call
would be charged (the refreshed map from ``routerlib prices update`` when there is one, else the
packaged snapshot; the header line says which, and of what date). Prices are shown per million
tokens, exactly: ``Decimal`` times 10**6 never rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import _args
from ._output import Column, CommandError, UsageError, csv_cell, money, print_table, safe

if TYPE_CHECKING:
    from ..cost.model_map import ModelInfo, ModelMap

__all__ = ["describe_map", "register"]

MODELS_HELP = "list the price map's models with their prices (USD per 1M tokens) and limits"
MODELS_EPILOG = """\
examples:
  routerlib models gpt-4o                  every model whose name contains gpt-4o
  routerlib models claude haiku            names containing both words
  routerlib models --provider gemini --mode chat --format csv

The first line says which map is in use: the packaged snapshot and its date, or the one that
`routerlib prices update` refreshed, with where it came from and when.
"""
PRICE_HELP = "the exact cost of a request of N prompt and M completion tokens"
PRICE_EPILOG = """\
examples:
  routerlib price gpt-4o-mini --prompt 1200 --completion 300
  routerlib price anthropic/claude-sonnet-4-5 --prompt 50000 --completion 800 --cached 48000
  routerlib price o3-mini --prompt 2000 --completion 4000 --reasoning 3500 --format json

--cached, --cache-write are part of --prompt, and --reasoning part of --completion (OpenAI's
meaning), each priced at its own rate. A model priced per second needs --seconds.
"""


def register(commands: Any) -> None:
    models = commands.add_parser("models", help=MODELS_HELP, description=MODELS_HELP + ".", epilog=MODELS_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    models.add_argument("query", nargs="*", metavar="QUERY", help="words the model name must contain (any case)")
    models.add_argument("--provider", help="only this provider's models (e.g. openai, anthropic, vertex_ai)")
    models.add_argument("--mode", help="only this mode (chat, completion, embedding, ...)")
    models.add_argument("--format", choices=("table", "csv", "json"), default="table")
    models.set_defaults(run=run_models)
    price = commands.add_parser("price", help=PRICE_HELP, description=PRICE_HELP + ".", epilog=PRICE_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    price.add_argument("model", help='a model name, "provider/model" or bare ("gpt-4o-mini")')
    price.add_argument("--prompt", type=_args.count, required=True, metavar="N", help="prompt tokens")
    price.add_argument("--completion", type=_args.count, required=True, metavar="M", help="completion tokens")
    price.add_argument("--cached", type=_args.count, default=0, metavar="K", help="prompt tokens read from cache")
    price.add_argument("--cache-write", type=_args.count, default=0, metavar="W",
                       help="prompt tokens written to the provider's cache")
    price.add_argument("--reasoning", type=_args.count, default=0, metavar="R",
                       help="completion tokens spent on reasoning")
    price.add_argument("--seconds", type=float, metavar="S", help="response time, for models priced per second")
    price.add_argument("--format", choices=("table", "json"), default="table")
    price.set_defaults(run=run_price)


def describe_map(meta: Mapping[str, Any]) -> str:
    """One line: which price map is in use and how old it is."""
    from ..cost.cache import FORMAT

    count = meta.get("models")
    size = f"{count:,} model{'' if count == 1 else 's'}" if isinstance(count, int) else "models"
    if meta.get("format") == FORMAT:
        modified = f", published {meta['last_modified']}" if meta.get("last_modified") else ""
        return f"price map: refreshed {meta.get('fetched')} from {meta.get('source')}{modified} ({size})"
    version = meta.get("litellm_version")
    return f"price map: packaged snapshot of {meta.get('generated', 'an unknown date')}" + (
        f" (LiteLLM {version}, {size})" if version else f" ({size})")


def _per_million(price: Decimal | None) -> str:
    return "" if price is None else money(price.scaleb(6))  # exact: only the exponent moves


def _matches(key: str, info: ModelInfo, words: list[str], provider: str | None, mode: str | None) -> bool:
    lower = key.lower()
    return (all(w in lower for w in words)
            and (provider is None or provider.lower() in (info.provider, (info.litellm_provider or "").lower()))
            and (mode is None or info.mode == mode))


def run_models(args: argparse.Namespace) -> int:
    from ..cost.model_map import ModelMap

    model_map = ModelMap.default()
    words = [w.lower() for w in args.query]
    found: list[tuple[str, ModelInfo]] = []
    for key in model_map:
        info = model_map.get(key)
        if info is not None and _matches(key, info, words, args.provider, args.mode):
            found.append((key, info))
    if not found:
        what = " ".join(args.query) or "the filters"
        raise CommandError(f"no model matches {what!r} (try fewer words, or `routerlib models` to list all)")
    header = describe_map(model_map.meta)
    if args.format == "json":
        rows = [{"model": key, **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in info.to_dict().items()
                                  if k != "key"}} for key, info in found]
        json.dump({"map": dict(model_map.meta), "models": rows}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    columns = [Column("model"), Column("provider", drop=3), Column("mode", drop=4), Column("input /1M", numeric=True),
               Column("output /1M", numeric=True), Column("cached /1M", numeric=True, drop=2),
               Column("context", numeric=True, drop=1), Column("max output", numeric=True, drop=5)]
    rows_text = [[key, info.provider or "", info.mode or "", _per_million(info.input_cost_per_token),
                  _per_million(info.output_cost_per_token), _per_million(info.cache_read_input_token_cost),
                  _limit(info.max_input_tokens), _limit(info.max_output_tokens or info.max_tokens)]
                 for key, info in found]
    if args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["model", "provider", "mode", "input_per_1m", "output_per_1m", "cached_input_per_1m",
                         "max_input_tokens", "max_output_tokens"])
        writer.writerows([[c.replace(",", "") if i >= 6 else csv_cell(c) if i < 3 else c for i, c in enumerate(r)]
                          for r in rows_text])
        return 0
    print_table(columns, rows_text, title=f"{header}; USD per 1M tokens")
    return 0


def _limit(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _lookup(model_map: ModelMap, model: str) -> ModelInfo:
    info = model_map.get(model)
    if info is not None:
        return info
    import difflib

    keys = list(model_map)
    close = difflib.get_close_matches(model, keys, n=3, cutoff=0.6)
    if not close:
        close = [k for k in keys if model.lower() in k.lower()][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `routerlib models WORD` lists known names"
    raise UsageError(f"unknown model {safe(model)!r}: not in the price map{hint}")


def run_price(args: argparse.Namespace) -> int:
    from ..cost import CostUnknownWarning
    from ..cost.model_map import ModelMap
    from ..cost.pricing import compute_cost
    from ..types import CompletionTokensDetails, PromptTokensDetails, Usage

    if args.cached + args.cache_write > args.prompt:
        raise UsageError("--cached plus --cache-write cannot exceed --prompt (they are part of the prompt tokens)")
    if args.reasoning > args.completion:
        raise UsageError("--reasoning cannot exceed --completion (reasoning tokens are part of the completion)")
    if args.seconds is not None and not args.seconds >= 0:
        raise UsageError("--seconds must be a time >= 0")
    model_map = ModelMap.default()
    info = _lookup(model_map, args.model)
    usage = Usage(prompt_tokens=args.prompt, completion_tokens=args.completion,
                  total_tokens=args.prompt + args.completion,
                  prompt_tokens_details=PromptTokensDetails(cached_tokens=args.cached,
                                                            cache_creation_tokens=args.cache_write),
                  completion_tokens_details=CompletionTokensDetails(reasoning_tokens=args.reasoning))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostUnknownWarning)  # said below, as the command's error
        cost = compute_cost(usage, info, response_seconds=args.seconds, model=args.model)
    if cost.total is None:
        why = "it is priced per second: pass --seconds" if info.bills_by_time else "the map has no price for it"
        raise CommandError(f"the cost of {info.key} is unknown: {why}")
    _print_price(args, info, usage, cost, describe_map(model_map.meta))
    return 0


def _print_price(args: argparse.Namespace, info: ModelInfo, usage: Any, cost: Any, header: str) -> None:
    rates = info.rates_for(args.prompt)
    buckets = [("input", args.prompt - args.cached - args.cache_write, rates[0], cost.input),
               ("cached_input", args.cached, rates[1], cost.cached_input),
               ("cache_creation", args.cache_write, rates[2], cost.cache_creation),
               ("output", args.completion - args.reasoning, rates[4], cost.output),
               ("reasoning", args.reasoning, rates[5], cost.reasoning),
               ("time", None, info.input_cost_per_second or info.output_cost_per_second, cost.time)]
    shown = [b for b in buckets if b[1] or b[3]]
    if args.format == "json":
        doc = {"model": args.model, "priced_as": cost.priced_as or info.key, "source": cost.source,
               "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                         "cached_tokens": args.cached, "cache_creation_tokens": args.cache_write,
                         "reasoning_tokens": args.reasoning},
               "cost": {name: money(amount) for name, _, _, amount in shown}, "total": money(cost.total)}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    rows = [[name, "" if tokens is None else f"{tokens:,}",
             "" if rate is None else (money(rate) + " /s" if tokens is None else _per_million(rate)), money(amount)]
            for name, tokens, rate, amount in shown]
    columns = [Column("bucket"), Column("tokens", numeric=True), Column("USD per 1M", numeric=True),
               Column("cost (USD)", numeric=True)]
    print_table(columns, rows, title=f"{info.key} · {header}",
                footer=["total", f"{args.prompt + args.completion:,}", "", money(cost.total)])
