"""Twilio's answers and settings rules: error codes and what they mean, reading an error body, and the
checks of the settings' values (light: no HTTP client)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runner.campaign.model import ALNUM_SENDER
from runner.errors import ConfigError

if TYPE_CHECKING:
    import httpx

API_VERSION = "2010-04-01"

#: the reason given to recipients Twilio refuses with 21610 (they replied STOP): suppress them
UNSUBSCRIBED_REASON = "unsubscribed (21610)"

ERR_AUTHENTICATE = 20003
ERR_TOO_MANY_REQUESTS = 20429
ERR_INVALID_TO = 21211
ERR_UNSUBSCRIBED = 21610
ERR_QUEUE_FULL = 21611
#: errors about the sender, the callback URL or the scheduling settings: every recipient would fail alike
CONFIG_ERRORS = frozenset(
    {
        21212,  # invalid 'From' number
        21603,  # 'From' is required
        21606,  # 'From' is not a message-capable number of this account
        21609,  # invalid StatusCallback
        35111,
        35114,
        35115,
        35117,
        35118,  # scheduling: SendAt/ScheduleType/Messaging Service
    }
)

#: Twilio accepts SendAt from 300 s to 35 days ahead; keep a margin for transit and clock skew
SCHEDULE_MIN_AHEAD = timedelta(minutes=5, seconds=30)
SCHEDULE_MAX_AHEAD = timedelta(days=35) - timedelta(minutes=5)
#: tolerance between our clock and Twilio's when reconciling
CLOCK_SLACK = timedelta(minutes=5)
QUEUE_FULL_RETRY_AFTER = 60.0

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID_RE = re.compile(r"^MG[0-9a-fA-F]{32}$")
MESSAGE_SID_RE = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")




def as_utc(moment: datetime) -> datetime:
    """Aware datetimes are converted; naive ones are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_rfc2822(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def error_fields(response: httpx.Response) -> tuple[int | None, str]:
    """Twilio's error body: ``{"code", "message", "more_info", "status"}``."""
    data = json_object(response) or {}
    code = data.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    message = data.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else "",
    )


def describe(status: int, code: int | None, text: str) -> str:
    what = f"HTTP {status}"
    if code is not None:
        what += f", error {code}"
    if text:
        what += f": {text}"
    return what


def check_base_url(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("provider twilio: settings.base_url must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("provider twilio: settings.base_url must be an http(s) URL without query")
    return value.rstrip("/")


def check_from(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (
        E164_RE.match(value) or SHORT_CODE_RE.match(value) or ALNUM_SENDER.match(value)
    ):
        raise ConfigError(
            "provider twilio: settings.from must be a number in E.164 (+15551234567), a short "
            "code or an alphanumeric sender ID (3-11 letters, digits, spaces)"
        )
    return value


def check_service(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not SERVICE_SID_RE.match(value):
        raise ConfigError("provider twilio: settings.messaging_service_sid must be 'MG' and 32 hex digits")
    return value


def check_callback(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("provider twilio: settings.status_callback must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigError("provider twilio: settings.status_callback must be an http(s) URL without fragment")
    if "_" in parts.hostname:
        raise ConfigError("provider twilio: Twilio refuses status_callback hosts with underscores")
    if len(value) > 3800:
        raise ConfigError("provider twilio: settings.status_callback is too long (Twilio allows 4000 chars)")
    return value


def check_validity(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36000:
        raise ConfigError("provider twilio: settings.validity_period must be whole seconds from 1 to 36000")
    return value


def check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError("provider twilio: settings.timeout must be a positive number of seconds")
    return float(value)
