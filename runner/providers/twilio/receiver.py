"""Twilio's side of smsrun's receiver: the ``X-Twilio-Signature`` check of status callbacks and incoming
messages, and what a message status means as a delivery report (one table for callbacks and status
fetches). No HTTP client here: the receiver imports it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from runner.providers.spec import SignedRequest

# Twilio message status -> DeliveryReport.status
DELIVERY_STATUS = {
    "delivered": "delivered",
    "read": "delivered",
    "partially_delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
    "queued": "pending",
    "accepted": "pending",
    "scheduled": "pending",
    "sending": "pending",
    "sent": "pending",
}


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` as Twilio computes it for a form POST.

    The full URL (query string included), then every POST parameter sorted by name, name and value
    appended with no delimiter; HMAC-SHA1 keyed by the auth token; base64.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    data = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]], signature: str
) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) matches the request.

    ``url`` is the URL exactly as Twilio called it, query string included.  As Twilio's own helpers do,
    the URL is also tried with and without the scheme's default port (proxies differ on that).
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, pairs), signature)
        for candidate in port_variants(url)
    )


def port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


def check_request(secrets: Mapping[str, str], request: SignedRequest) -> str | None:
    """The receiver's check of the twilio/ routes (their ``ReceiverRoute.check``): None when Twilio signed
    ``request`` with the auth token; else why it is refused. Raises ``ValueError`` when it is not a form POST."""
    from runner.providers.twilio.spec import ENV_AUTH_TOKEN

    if request.method != "POST" or "x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise ValueError("Twilio posts a form")
    signature = request.headers.get("x-twilio-signature", "")
    if not signature or not verify_twilio_signature(secrets[ENV_AUTH_TOKEN], request.url, request.form_pairs,
                                                    signature):
        return "bad or missing X-Twilio-Signature"
    return None
