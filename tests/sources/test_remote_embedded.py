"""Issue 15, group 5: an IPv6 form of a private IPv4 address (NAT64, IPv4-mapped, IPv4-compatible, 6to4,
Teredo) is as private as the address itself."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import SourceError
from runner.sources.remote import address_refused, check_address

PRIVATE = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                                              "169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4")]


def _forms(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    n = int(v4)
    return [ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | n),  # NAT64
            ipaddress.IPv6Address(0xFFFF << 32 | n),  # IPv4-mapped
            ipaddress.IPv6Address(n),  # IPv4-compatible
            ipaddress.IPv6Address(0x2002 << 112 | n << 80 | 1)]  # 6to4


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PRIVATE), st.integers(min_value=0, max_value=2**32 - 1))
def test_every_form_of_a_private_address_is_refused(network: ipaddress.IPv4Network, seed: int) -> None:
    v4 = network[seed % network.num_addresses]
    assert address_refused(v4)
    for form in _forms(v4):
        assert address_refused(form), (v4, form)


@pytest.mark.parametrize("v4", ["8.8.8.8", "1.1.1.1", "151.101.1.140"])
def test_nat64_and_6to4_forms_of_a_public_address_are_allowed(v4: str) -> None:
    address = ipaddress.IPv4Address(v4)
    nat64, _, _, sixtofour = _forms(address)
    assert not address_refused(nat64) and not address_refused(sixtofour)


@pytest.mark.parametrize("url", ["http://[64:ff9b::a9fe:a9fe]/list.csv", "http://[::ffff:169.254.169.254]/",
                                 "http://[2002:a9fe:a9fe::1]/", "http://[::a9fe:a9fe]/", "http://[64:ff9b:1::a]/",
                                 "http://[64:ff9b::7f00:1]:8080/"])
def test_the_url_is_refused_before_any_connection(url: str) -> None:
    with pytest.raises(SourceError, match="private"):
        check_address(url, allow_http=True, allow_private=False)
