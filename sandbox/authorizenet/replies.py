"""Authorize.net's reply bytes: a UTF-8 byte-order mark, then compact JSON, always HTTP 200.

Two quirks every client of the real API trips over, reproduced on purpose:

- the body starts with ``EF BB BF`` (a UTF-8 BOM), which ``json.loads`` on bytes decoded as
  plain UTF-8 refuses, so adapters must strip it;
- errors (bad credentials, schema violations, declines) are HTTP 200 with
  ``messages.resultCode: "Error"``; only infrastructure failures (the fault replies) use 5xx.

Money in the reporting replies (``authAmount``, ``settleAmount``) is a JSON number, as the real
API sends it, so the encoder here writes ``Decimal`` values as numbers (``json`` cannot), never
passing through float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from sandbox.authorizenet import codes
from sandbox.core import SimResponse

BOM: Final = b"\xef\xbb\xbf"
_HEADERS: Final = {"content-type": "application/json; charset=utf-8"}
_encode_str = json.encoder.encode_basestring


def dumps(value: object) -> str:
    """Compact JSON where ``Decimal`` is a number ("12.50" -> 12.50), key order kept."""
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, Mapping):
        inner = ",".join(f"{_encode_str(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def reply(payload: Mapping[str, object], status: int = 200) -> SimResponse:
    """The payload as Authorize.net sends it: BOM, compact JSON."""
    return SimResponse(status, BOM + dumps(payload).encode(), _HEADERS)


def messages(code_text: tuple[str, str], *, ok: bool) -> dict[str, object]:
    """The top-level ``messages`` object."""
    code, text = code_text
    return {
        "resultCode": "Ok" if ok else "Error",
        "message": [{"code": code, "text": text}],
    }


def api_error(code_text: tuple[str, str], ref_id: str | None = None) -> SimResponse:
    """A request refused before any transaction exists (E00003, E00007, E00040 ...)."""
    payload: dict[str, object] = {}
    if ref_id is not None:
        payload["refId"] = ref_id
    payload["messages"] = messages(code_text, ok=False)
    return reply(payload)


def fault_reply(status: int, retry_after_s: float | None) -> SimResponse:
    """What the gateway's front end answers when it is down or shedding load.

    Authorize.net documents no body for these; the simulator sends its generic E00001 error
    in the usual envelope (BOM included) so an adapter's parser is exercised either way.
    """
    headers = dict(_HEADERS)
    if retry_after_s is not None:
        headers["retry-after"] = f"{retry_after_s:g}"
    body = dumps({"messages": messages(codes.GENERAL_ERROR, ok=False)})
    return SimResponse(status, BOM + body.encode(), headers)


def transaction_reply(
    transaction: Mapping[str, object], ref_id: str | None, *, ok: bool
) -> SimResponse:
    """A createTransaction reply: ``transactionResponse``, ``refId``, ``messages`` in that order."""
    payload: dict[str, object] = {"transactionResponse": transaction}
    if ref_id is not None:
        payload["refId"] = ref_id
    payload["messages"] = messages(codes.OK if ok else codes.UNSUCCESSFUL, ok=ok)
    return reply(payload)


def ok_reply(body: Mapping[str, object], ref_id: str | None) -> SimResponse:
    """A successful reporting reply: the method's own elements, then refId and messages."""
    payload = dict(body)
    if ref_id is not None:
        payload["refId"] = ref_id
    payload["messages"] = messages(codes.OK, ok=True)
    return reply(payload)
