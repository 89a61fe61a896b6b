"""Check HTTP requests against Twilio's official OpenAPI spec (``twilio_api_v2010.json``).

:class:`TwilioSpec` loads the spec once, keeps the ``/Messages`` paths, and validates a request with
openapi-core (path and query parameters, HTTP Basic present, content type, the form body against the
operation's ``requestBody`` schema: required fields, types, enums, patterns, lengths, ``date-time``).
It then adds what openapi-core leaves out but the spec states:

* the ``x-twilio.conditional`` groups of CreateMessage (one of From / MessagingServiceSid, one of
  Body / MediaUrl / ContentSid);
* the formats it does not know: ``phone-number`` (E.164 or ``channel:address``; From may also be a
  short code or an alphanumeric sender ID) and ``uri`` (an absolute http(s) URL; Twilio refuses
  underscores in its host);
* form fields the operation does not define, a singular field given twice, and the scalar types
  again, naming the field (openapi-core's cast errors do not);
* query parameters the operation does not define.

One known inconsistency of the spec is tolerated: ListMessage's ``DateSent``/``DateSent<``/``DateSent>``
are typed ``date-time``, but their description and the spec's own examples use ``YYYY-MM-DD``.

Response bodies of 2xx answers can be checked too (:meth:`TwilioSpec.check_response`), so the loopback
fake cannot drift from the Message schema either.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

ROOT = Path(__file__).resolve().parents[2]
#: Twilio's official spec, vendored in tests/data (MIT-licensed, from twilio/twilio-oas) so the spec checks
#: never depend on what lies beside the checkout; SMSRUN_TWILIO_SPEC points at another copy
SPEC_PATH = Path(os.environ.get("SMSRUN_TWILIO_SPEC", str(ROOT / "tests" / "data" / "twilio_api_v2010.json")))
SERVER = "https://api.twilio.com"
MESSAGES_PREFIX = "/2010-04-01/Accounts/{AccountSid}/Messages"
CREATE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9-]*:.+$")
_SHORT_CODE = re.compile(r"^[0-9]{3,8}$")
_ALNUM = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
#: how a form value of each scalar JSON Schema type must look (names the field, unlike openapi-core)
_FORM_TYPES: dict[str, Callable[[str], bool]] = {
    "integer": lambda v: re.fullmatch(r"-?[0-9]+", v) is not None,
    "number": lambda v: _NUMBER.match(v) is not None,
    "boolean": lambda v: v in ("true", "false"),
}


class SpecUnavailable(RuntimeError):
    """The spec file is not where it is expected."""


def _flatten(name: str) -> str:
    return name.replace("_", "").lower()


@functools.lru_cache(maxsize=4)
def _load(path: str) -> tuple[OpenAPI, dict[str, Any]]:
    try:
        spec: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecUnavailable(f"Twilio OpenAPI spec not found at {path} (set SMSRUN_TWILIO_SPEC)") from exc
    spec["paths"] = {k: v for k, v in spec["paths"].items() if k.startswith(MESSAGES_PREFIX)}
    return OpenAPI.from_dict(spec), spec


class TwilioSpec:
    """Validator for the Messages operations of Twilio's API spec; see the module docstring."""

    def __init__(self, path: Path | None = None) -> None:
        self.api, self.spec = _load(str(path or SPEC_PATH))
        create = self.spec["paths"][CREATE_PATH]["post"]
        schema = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        self.create_properties: dict[str, Any] = schema["properties"]
        by_flat = {_flatten(name): name for name in self.create_properties}
        self.conditional: list[list[str]] = [
            [by_flat[_flatten(field)] for field in group]
            for group in create.get("x-twilio", {}).get("conditional", [])
        ]

    # -- requests -----------------------------------------------------------------------------------

    def check(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> list[str]:
        """Every way the request departs from the spec (empty: valid)."""
        request = self._request(method, path, query, headers, body, content_type)
        problems: list[str] = []
        query_values = dict(query)
        for error in self.api.iter_request_errors(request):
            name = getattr(error, "name", None)
            if (
                isinstance(name, str)
                and name.startswith("DateSent")
                and _DAY.match(query_values.get(name, ""))
            ):
                continue  # the spec's own examples use YYYY-MM-DD here
            problems.append(_describe(error))
        operation = self._operation(method, path)
        if operation is not None:
            known = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            problems += [
                f"query parameter {name!r} is not defined by the spec"
                for name, _ in query
                if name not in known
            ]
        form_type = (content_type or "").split(";")[0].strip() == "application/x-www-form-urlencoded"
        if method.upper() == "POST" and _is_create(path) and form_type:
            problems += self._check_create_form(body)
        return problems

    def _check_create_form(self, body: bytes) -> list[str]:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        form: dict[str, list[str]] = {}
        for name, value in pairs:
            form.setdefault(name, []).append(value)
        problems: list[str] = []
        for name, values in form.items():
            prop = self.create_properties.get(name)
            if prop is None:
                problems.append(f"form field {name!r} is not defined by CreateMessage")
                continue
            if prop.get("type") != "array" and len(values) > 1:
                problems.append(f"form field {name!r} is given {len(values)} times")
            kind = prop.get("type")
            for value in values if kind in _FORM_TYPES else ():
                if not _FORM_TYPES[kind](value):
                    problems.append(f"form field {name}={value!r} is not of type {kind}")
            fmt = prop.get("format") or prop.get("items", {}).get("format")
            ignore = prop.get("items", {}).get("x-twilio", {}).get("ignoreFormat", False)
            for value in values:
                if fmt == "phone-number" and not _is_phone(value, sender=name != "To"):
                    problems.append(f"form field {name}={value!r} is not a phone-number (E.164 or channel)")
                if fmt == "uri" and not ignore and not _is_http_uri(value):
                    problems.append(f"form field {name}={value!r} is not an absolute http(s) URI")
        for group in self.conditional:
            if not any(form.get(name) for name in group):
                problems.append(f"CreateMessage needs one of {', '.join(group)} (x-twilio.conditional)")
        return problems

    # -- responses ----------------------------------------------------------------------------------

    def check_response(
        self,
        method: str,
        path: str,
        status: int,
        payload: bytes,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> list[str]:
        """How a 2xx answer departs from the operation's response schema (other statuses: not
        documented by the spec, not checked)."""
        if not 200 <= status < 300:
            return []
        request = self._request(method, path, query, {"Authorization": "Basic eDp5"}, body, content_type)
        response = MockResponse(payload, status_code=status, content_type="application/json")
        return [f"response: {_describe(e)}" for e in self.api.iter_response_errors(request, response)]

    # -- plumbing -----------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str] | None,
        body: bytes,
        content_type: str | None,
    ) -> MockRequest:
        return MockRequest(
            SERVER,
            method.lower(),
            path,
            args=dict(query),
            headers=dict(headers or {}),
            data=body or None,
            content_type=content_type or "",
        )

    def _operation(self, method: str, path: str) -> dict[str, Any] | None:
        for template, item in self.spec["paths"].items():
            pattern = "[^/]+".join(re.escape(piece) for piece in re.split(r"\{[^}]+\}", template))
            if re.fullmatch(pattern, path):
                operation = item.get(method.lower())
                return operation if isinstance(operation, dict) else None
        return None


def _is_create(path: str) -> bool:
    return re.fullmatch(r"/2010-04-01/Accounts/[^/]+/Messages\.json", path) is not None


def _is_phone(value: str, *, sender: bool) -> bool:
    if _E164.match(value) or _CHANNEL.match(value):
        return True
    return sender and bool(_SHORT_CODE.match(value) or _ALNUM.match(value))


def _is_http_uri(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in (parts.hostname or "")


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    details = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", ()) or ()]
    if details:
        text += " (" + "; ".join(details) + ")"
    elif cause is not None and str(cause) not in text:
        text += f" ({cause})"
    return text
