"""An opt-out is an E.164 number or nothing (issue 15).

An opt-out stored as written (``0612340005``) never matches a recipient, who is always E.164: the person
keeps receiving SMS while the tool says "added". So a number written without its country code needs a
region (``--region``, else ``$SMSRUN_REGION``), and anything that does not read as a phone number is
refused with a clear error, never stored.
"""

from __future__ import annotations

import os

from runner.errors import SmsrunError

REGION_ENV = "SMSRUN_REGION"


def default_region(region: str | None) -> str | None:
    """``region``, else ``$SMSRUN_REGION``, else None."""
    return region or os.environ.get(REGION_ENV) or None


def optout_number(raw: str, region: str | None) -> str:
    """The E.164 form of ``raw``; a :class:`SmsrunError` saying why when there is none.

    Any valid number is accepted (a fixed line that replied STOP is stored too), not only mobiles."""
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat

    from runner.audience.phones import refused_reason

    region = default_region(region)
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    value = raw.strip()
    refused = refused_reason(value)
    if refused is not None:
        raise SmsrunError(f"{shown!r} is not a phone number: {refused}")
    if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise SmsrunError(f"unknown region {region!r}: use a country code such as FR, BE or RE")
    try:
        number = phonenumbers.parse(value, region.upper() if region else None)
    except NumberParseException:
        digits = value.lstrip()
        if region is None and digits[:1] != "+" and any(ch.isdigit() for ch in digits):
            raise SmsrunError(f"{shown!r} is written without a country code: pass --region (e.g. --region FR) "
                              f"or set {REGION_ENV}, or write it as +33...; it was not added") from None
        raise SmsrunError(f"{shown!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise SmsrunError(f"{shown!r} is not a valid phone number"
                          + ("" if region else f" (if it is national, pass --region or set {REGION_ENV})"))
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
