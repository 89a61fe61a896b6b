"""OVHcloud API configuration without HTTP: endpoints, the environment variables, the classified errors
of a missing account, the settings/environment resolution and the request signature (pure functions,
tested against the official package). :mod:`runner.providers.ovh.client` sends with them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from runner.errors import ConfigError

ENDPOINTS: Final[dict[str, str]] = {
    "ovh-eu": "https://eu.api.ovh.com/1.0",
    "ovh-ca": "https://ca.api.ovh.com/1.0",
    "ovh-us": "https://api.us.ovhcloud.com/1.0",
}

ENV_APPLICATION_KEY: Final = "OVH_APPLICATION_KEY"
ENV_APPLICATION_SECRET: Final = "OVH_APPLICATION_SECRET"
ENV_CONSUMER_KEY: Final = "OVH_CONSUMER_KEY"
ENV_ENDPOINT: Final = "OVH_ENDPOINT"
ENV_SERVICE_NAME: Final = "OVH_SERVICE_NAME"
ENV_REQUESTS_PER_MINUTE: Final = "OVH_REQUESTS_PER_MINUTE"  # optional, overrides the 60/min default
CREDENTIAL_VARIABLES: Final = (ENV_APPLICATION_KEY, ENV_APPLICATION_SECRET, ENV_CONSUMER_KEY)

DEFAULT_ENDPOINT: Final = "ovh-eu"
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_REQUESTS_PER_MINUTE: Final = 60.0

# errorCode values (python-ovh's table, §4) that mean "these credentials are not good for this call".
_AUTH_ERROR_CODES: Final = frozenset(
    {
        "INVALID_KEY",
        "INVALID_CREDENTIAL",
        "INVALID_SIGNATURE",
        "NOT_CREDENTIAL",
        "NOT_GRANTED_CALL",
        "FORBIDDEN",
        "NOT_AUTHENTICATED",
    }
)
_CREDENTIALS_HINT: Final = (
    f"check {ENV_APPLICATION_KEY}, {ENV_APPLICATION_SECRET} and {ENV_CONSUMER_KEY}, the endpoint they "
    "were created on, and the rights granted to the consumer key"
)


class _OvhConfigError(ConfigError):
    """A configuration problem the API reported, quoting its query id."""

    def __init__(self, message: str, *, query_id: str | None = None) -> None:
        if query_id:
            message = f"{message} (query id {query_id})"
        super().__init__(message)
        self.query_id = query_id


class OvhNotFoundError(_OvhConfigError):
    """The API answered 404: a service name, sender, slot, phonebook... that does not exist."""


class OvhServiceExpiredError(_OvhConfigError):
    """The API answered 460: the SMS service has expired."""


# --------------------------------------------------------------------------------------------------
# configuration


def resolve_endpoint(value: str | None) -> str:
    """``ovh-eu``/``ovh-ca``/``ovh-us`` → their ``/1.0`` base URL; a full http(s) URL is kept as is."""
    name = (value or DEFAULT_ENDPOINT).strip()
    if name in ENDPOINTS:
        return ENDPOINTS[name]
    if name.startswith(("http://", "https://")):
        return name.rstrip("/")
    raise ConfigError(
        f"unknown OVHcloud endpoint {name!r}: use one of {', '.join(ENDPOINTS)} or a full base URL "
        "such as https://eu.api.ovh.com/1.0"
    )


def _lookup(env: Mapping[str, str] | None, name: str) -> str | None:
    value = env.get(name) if env is not None else None
    if value is None:
        value = os.environ.get(name)
    return value or None


@dataclass(frozen=True)
class OvhConfig:
    """Where to talk to and which account, resolved from settings then the environment.

    Credentials are not kept here (see :func:`client_from_env`); ``missing`` lists the credential
    variables that are not set.
    """

    endpoint: str  # base URL
    service_name: str | None
    missing: tuple[str, ...]

    @property
    def has_credentials(self) -> bool:
        return not self.missing


def resolve_config(settings: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> OvhConfig:
    """Endpoint and service name from ``settings`` (``endpoint``, ``service_name``), else
    ``OVH_ENDPOINT`` / ``OVH_SERVICE_NAME`` from ``env`` (then ``os.environ``)."""
    settings = settings or {}
    for forbidden in ("application_key", "application_secret", "consumer_key"):
        if forbidden in settings:
            raise ConfigError(
                f"provider setting {forbidden!r} is not allowed: OVHcloud credentials come only from "
                f"the environment ({', '.join(CREDENTIAL_VARIABLES)})"
            )
    endpoint = resolve_endpoint(settings.get("endpoint") or _lookup(env, ENV_ENDPOINT))
    service = settings.get("service_name") or _lookup(env, ENV_SERVICE_NAME)
    missing = tuple(v for v in CREDENTIAL_VARIABLES if not _lookup(env, v))
    return OvhConfig(endpoint=endpoint, service_name=str(service) if service else None, missing=missing)


# --------------------------------------------------------------------------------------------------
# signing helpers (pure functions, tested against the official package)


def encode_body(data: Any) -> str:
    """Serialise a body exactly as python-ovh does: compact JSON with ASCII escapes."""
    return json.dumps(data, separators=(",", ":"))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def encode_query(params: Mapping[str, Any] | None) -> str:
    """Query string as python-ovh builds it (booleans lower case, ``urlencode`` quoting)."""
    if not params:
        return ""
    return urlencode({k: _query_value(v) for k, v in params.items()})


def sign(application_secret: str, consumer_key: str, method: str, url: str, body: str, timestamp: int) -> str:
    """The ``X-Ovh-Signature`` value for one request."""
    pre_image = "+".join([application_secret, consumer_key, method.upper(), url, body, str(timestamp)])
    return "$1$" + hashlib.sha1(pre_image.encode("utf-8")).hexdigest()


def path_segment(value: str | int) -> str:
    """Quote one path segment (``+33...`` → ``%2B33...``)."""
    return quote(str(value), safe="")
