"""The SSRF guard: which addresses a webhook may reach, and which URLs an endpoint may have."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from gateway_svc.domain.errors import ValidationFailed, WebhookDestinationRefused
from gateway_svc.domain.webhooks import Destination, check_addresses, check_url

# (address, what the refusal says) for addresses refused unless allow_private.
INSIDE = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),  # getaddrinfo's form, with a zone
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.10", "private"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "not globally routable"),  # documentation (TEST-NET-1)
    ("198.18.0.1", "not globally routable"),  # benchmarking
    ("2001:db8::1", "not globally routable"),  # documentation
    # IPv4-mapped IPv6 is its IPv4 on the wire.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:100.64.0.1", "CGNAT"),
    # NAT64 and 6to4 reach the IPv4 they embed.
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:c0a8:0101::1", "private"),
]
# Refused whatever the setting: nothing can listen there.
NEVER = [
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::ffff:224.0.0.1", "multicast"),
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "why"), INSIDE)
def test_an_inside_address_is_refused_unless_private_is_allowed(address, why):
    with pytest.raises(WebhookDestinationRefused) as caught:
        check_addresses([address], allow_private=False, host="hooks.example")
    (violation,) = caught.value.violations
    assert violation.field == "url"
    assert why in violation.description
    assert "hooks.example" in violation.description
    assert check_addresses([address], allow_private=True)


@pytest.mark.parametrize(("address", "why"), NEVER)
@pytest.mark.parametrize("allow_private", [False, True])
def test_an_address_nothing_listens_on_is_refused_always(address, why, allow_private):
    with pytest.raises(WebhookDestinationRefused, match=why):
        check_addresses([address], allow_private=allow_private)


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_passes(address):
    (parsed,) = check_addresses([address], allow_private=False)
    assert isinstance(parsed, IPv4Address | IPv6Address)


def test_one_inside_address_among_public_ones_refuses_them_all():
    with pytest.raises(WebhookDestinationRefused, match=r"10\.0\.0\.7"):
        check_addresses(["8.8.8.8", "10.0.0.7", "1.1.1.1"], allow_private=False, host="x.test")


def test_addresses_come_back_parsed_deduplicated_and_in_order():
    addresses = check_addresses(["1.1.1.1", IPv4Address("8.8.8.8"), "1.1.1.1"], False)
    assert addresses == (IPv4Address("1.1.1.1"), IPv4Address("8.8.8.8"))


def test_a_host_that_resolves_to_nothing_is_refused():
    with pytest.raises(WebhookDestinationRefused, match="no address"):
        check_addresses([], allow_private=True, host="void.test")


def test_the_refusal_is_a_validation_failure_with_its_own_reason():
    with pytest.raises(ValidationFailed) as caught:
        check_addresses(["127.0.0.1"], allow_private=False, host="localhost")
    assert caught.value.reason == "WEBHOOK_DESTINATION_REFUSED"
    assert caught.value.metadata == {"host": "localhost"}


# -- URLs ------------------------------------------------------------------------------------


def test_an_https_url_is_taken_apart():
    assert check_url("https://Hooks.Example.com./paymesh?x=1", False) == Destination(
        url="https://Hooks.Example.com./paymesh?x=1",
        scheme="https",
        host="hooks.example.com",
        port=443,
        ip=None,
    )
    assert check_url("https://hooks.example.com:8443/", False).port == 8443


def test_http_is_refused_unless_the_development_setting_allows_it():
    with pytest.raises(WebhookDestinationRefused, match="https"):
        check_url("http://hooks.example.com/", False)
    assert check_url("http://hooks.example.com/", True).port == 80
    with pytest.raises(WebhookDestinationRefused, match="http"):
        check_url("ftp://hooks.example.com/", True)


def test_a_public_ip_literal_passes_and_carries_its_address():
    assert check_url("https://8.8.8.8/hook", False).ip == IPv4Address("8.8.8.8")
    assert check_url("https://[2606:4700::1]:444/", False).ip == IPv6Address("2606:4700::1")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1:8443/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fd00::1]/",
    ],
)
def test_an_inside_ip_literal_is_refused_early_unless_private_is_allowed(url):
    with pytest.raises(WebhookDestinationRefused) as caught:
        check_url(url, False)
    assert caught.value.violations[0].field == "url"
    assert check_url(url, False, allow_private=True).ip is not None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pass@hooks.example.com/", "user name or password"),
        ("https://user@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https:///path-only", "must name a host"),
        ("hooks.example.com/no-scheme", "https"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:0/", "port 0"),
        ("https://[not-an-ip]/", "not a valid URL"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://hooks example.com/", "spaces"),
        ("https://hooks.exämple.com/", "ASCII"),
        ("https://hooks..example.com/", "invalid host name"),
        ("https://-hooks.example.com/", "invalid host name"),
        ("https://127.1/", "dotted-quad"),
        ("https://2130706433/", "dotted-quad"),
        ("https://0x7f.0x0.0x0.0x1/", "dotted-quad"),
        ("https://hooks.example.com/" + "a" * 2048, "2048"),
    ],
)
def test_a_malformed_or_disguised_url_is_refused(url, why):
    with pytest.raises(WebhookDestinationRefused, match=why):
        check_url(url, False, allow_private=True)


def test_the_violation_is_on_the_field_the_caller_names():
    with pytest.raises(WebhookDestinationRefused) as caught:
        check_url("http://x.example/", False, field="webhook_endpoint.url")
    assert caught.value.violations[0].field == "webhook_endpoint.url"


def test_a_host_name_is_left_for_the_resolver_to_check():
    # "localhost" is refused when it resolves to loopback (the sender); by name it passes.
    assert check_url("https://localhost:8443/", False).host == "localhost"
