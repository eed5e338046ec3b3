"""The SSRF guard of webhook URLs: which addresses Krafa refuses to call, the URL forms it refuses,
host spellings that getaddrinfo reads as loopback, and the pinned request of each attempt."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest
from krafa_claims_api.webhooks import UnsafeUrl, UrlPolicy, address_problem, pin, resolve

STRICT = UrlPolicy()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_internal_addresses_are_refused_with_their_class(address: str, reason: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://1.1.1.1/hook", "https"),
        ("ftp://1.1.1.1/hook", "https"),
        ("https://user:secret@1.1.1.1/hook", "credentials"),
        ("https://token@1.1.1.1/hook", "credentials"),
        ("https://1.1.1.1:99999/hook", "not a valid URL"),
        ("https:///hook", "no host"),
        # Spellings of 127.0.0.1 that getaddrinfo reads (decimal, octal, hex, short form).
        ("https://2130706433/hook", "resolves to 127.0.0.1, a loopback address"),
        ("https://0177.0.0.1/hook", "resolves to 127.0.0.1, a loopback address"),
        ("https://0x7f.1/hook", "resolves to 127.0.0.1, a loopback address"),
        ("https://127.1/hook", "resolves to 127.0.0.1, a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "is a loopback address"),
        ("https://[::1]:8443/hook", "is a loopback address"),
        ("https://169.254.169.254/latest/meta-data", "is a link-local address"),
        ("https://localhost/hook", "resolves to 127.0.0.1, a loopback address"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
async def test_unsafe_urls_are_refused(url: str, says: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await resolve(url, STRICT)
    assert says in str(refused.value)


async def test_a_public_https_url_resolves_to_a_pinned_target() -> None:
    target = await resolve("https://1.1.1.1/krafa/hooks?x=1", STRICT)
    assert (target.url, target.host, target.sni, target.address) == (
        "https://1.1.1.1:443/krafa/hooks?x=1",
        "1.1.1.1",
        None,
        "1.1.1.1",
    )


async def test_the_settings_relax_only_what_they_name() -> None:
    # http to a public address needs allow_http; private addresses need allow_private (which also
    # allows http: local sinks have no TLS).
    assert (await resolve("http://1.1.1.1/h", UrlPolicy(allow_http=True))).url == "http://1.1.1.1:80/h"
    with pytest.raises(UnsafeUrl, match="loopback"):
        await resolve("http://127.0.0.1:8080/h", UrlPolicy(allow_http=True))
    local = await resolve("http://127.0.0.1:8080/h", UrlPolicy(allow_private=True))
    assert (local.url, local.host) == ("http://127.0.0.1:8080/h", "127.0.0.1:8080")
    with pytest.raises(UnsafeUrl, match="credentials"):
        await resolve("http://a:b@127.0.0.1:8080/h", UrlPolicy(allow_private=True))


def test_a_pinned_request_keeps_the_host_header_and_tls_name_of_the_url() -> None:
    # DNS rebinding: the attempt connects to the address just checked, yet the server sees its own
    # name in Host and the certificate is checked against that name (SNI).
    parts = urlsplit("https://erp.example.is:8443/krafa/webhooks")
    v4 = pin(parts, ipaddress.ip_address("93.184.215.14"), 8443)
    assert (v4.url, v4.host, v4.sni) == (
        "https://93.184.215.14:8443/krafa/webhooks",
        "erp.example.is:8443",
        "erp.example.is",
    )
    v6 = pin(urlsplit("https://erp.example.is/h"), ipaddress.ip_address("2606:4700::1"), 443)
    assert (v6.url, v6.host, v6.sni) == ("https://[2606:4700::1]:443/h", "erp.example.is", "erp.example.is")
    # An internationalised name: Host header and TLS name in IDNA, as getaddrinfo resolved it.
    idn = pin(urlsplit("https://greiðsla.is/h"), ipaddress.ip_address("93.184.215.14"), 443)
    assert (idn.host, idn.sni) == ("xn--greisla-zza.is", "xn--greisla-zza.is")
