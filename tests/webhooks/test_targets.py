"""Which webhook URLs are refused, with which message, and that a refusal never reaches the network.

Only literals, /etc/hosts names (``localhost``, this machine's name) and ``.invalid`` names are
resolved, so the tests need no outside DNS.
"""

from __future__ import annotations

import socket
import threading

import pytest

from service.webhooks.sender import deliver
from service.webhooks.targets import RefusedTarget, Target, address_refusal, check_url, resolve_target
from service.webhooks.targets import _refuse_any as refuse_any

HOSTNAME = socket.gethostname()


@pytest.mark.parametrize(
    ("url", "named", "reason"),
    [
        ("https://localhost/hook", "localhost", "loopback"),
        ("https://0.0.0.0/hook", "0.0.0.0", "unspecified"),
        ("https://[::]/hook", "::", "unspecified"),
        ("https://[::1]/hook", "::1", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1", "loopback (it embeds 127.0.0.1)"),
        ("https://2130706433/hook", "2130706433", "loopback"),
        ("https://0x7f000001/hook", "0x7f000001", "loopback"),
        ("https://127.1/hook", "127.1", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254", "the cloud metadata address"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254", "the cloud metadata address"),
        ("https://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254", "the cloud metadata address"),
        ("https://10.0.0.1/hook", "10.0.0.1", "private"),
        ("https://192.168.1.1/hook", "192.168.1.1", "private"),
        ("https://[fd00::1]/hook", "fd00::1", "private"),
        ("https://[fe80::1]/hook", "fe80::1", "link-local"),
        ("https://224.0.0.1/hook", "224.0.0.1", "multicast"),
        ("https://[ff02::1]/hook", "ff02::1", "multicast"),
        ("https://[2002:7f00:1::]/hook", "2002:7f00:1::", "loopback (it embeds 127.0.0.1)"),
        ("https://[64:ff9b::a00:1]/hook", "64:ff9b::a00:1", "private (it embeds 10.0.0.1)"),
        (f"https://{HOSTNAME}/hook", HOSTNAME, "loopback"),
    ],
)
def test_addresses_in_disguise_are_refused_with_a_message_naming_them(url, named, reason):
    with pytest.raises(RefusedTarget) as caught:
        resolve_target(url, allow_private=False)
    message = str(caught.value)
    assert named in message
    assert f"is {reason}" in message
    assert message.endswith("webhook URLs must reach a public address")


def test_a_name_is_named_alongside_the_address_it_resolves_to():
    with pytest.raises(RefusedTarget, match=r"^the address 127\.0\.0\.1 of 2130706433 is loopback;"):
        resolve_target("https://2130706433/", allow_private=False)
    with pytest.raises(RefusedTarget, match=r"^the address 10\.0\.0\.1 is private;"):
        resolve_target("https://10.0.0.1/", allow_private=False)


def test_ip_literals_are_refused_already_by_the_syntax_check():
    with pytest.raises(RefusedTarget, match="private"):
        check_url("https://10.0.0.1/hook", allow_private=False)
    # A name needs DNS, so check_url lets it through; resolve_target is the one that asks.
    assert check_url(f"https://{HOSTNAME}/hook", allow_private=False) == f"https://{HOSTNAME}/hook"


def test_one_refused_address_among_several_refuses_the_name():
    refuse_any("example.com", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    with pytest.raises(RefusedTarget, match=r"the address 10\.0\.0\.1 of example\.com is private"):
        refuse_any("example.com", ["93.184.216.34", "10.0.0.1"])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("100.64.0.1", "not globally routable"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("fec0::1", "site-local"),
        ("::127.0.0.1", "reserved"),
        ("2001:db8::1", "private"),
        ("fe80::1%eth0", "link-local"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private (it embeds 10.0.0.1)"),
        ("example.com", "not an IP address"),
    ],
)
def test_address_refusal_says_why(address, reason):
    assert address_refusal(address) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "2002:5db8:d822::1"],
)
def test_public_addresses_pass(address):
    assert address_refusal(address) is None


def test_a_public_literal_resolves_without_dns():
    assert resolve_target("https://93.184.216.34/hook", allow_private=False) == Target(
        url="https://93.184.216.34/hook",
        scheme="https",
        host="93.184.216.34",
        port=443,
        path="/hook",
        address="93.184.216.34",
    )
    target = resolve_target("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/a/b?c=1#part", allow_private=False)
    assert (target.host, target.port, target.path) == ("2606:2800:220:1:248:1893:25c8:1946", 8443, "/a/b?c=1")
    assert target.address == "2606:2800:220:1:248:1893:25c8:1946"


def test_allow_private_lifts_both_rules():
    target = resolve_target("http://127.0.0.1:8123/x", allow_private=True)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "http",
        "127.0.0.1",
        8123,
        "/x",
        "127.0.0.1",
    )
    local = resolve_target("http://localhost:8123/", allow_private=True)
    assert local.address in {"127.0.0.1", "::1"}
    assert local.path == "/"
    assert resolve_target("https://169.254.169.254/", allow_private=True).address == "169.254.169.254"


@pytest.mark.parametrize(
    ("url", "allow_private", "message"),
    [
        ("", False, "the webhook URL is empty"),
        ("not a url", False, "contains spaces"),
        ("example.com/hook", False, "is not a URL; expected https://host/path"),
        ("https://[::1/hook", False, "is not a URL (Invalid IPv6 URL)"),
        ("https:///hook", False, "the URL has no host"),
        ("ftp://example.com/hook", False, "the scheme 'ftp' is not allowed; webhook URLs must use https"),
        ("http://example.com/hook", False, "the scheme 'http' is not allowed; webhook URLs must use https"),
        ("ftp://example.com/hook", True, "the scheme 'ftp' is not allowed; webhook URLs must use https or http"),
        ("https://user:secret@example.com/hook", False, "must not contain a user name or password"),
        ("https://example.com/" + "a" * 2100, False, "webhook URLs may have at most 2048"),
        ("https://example.com:0/hook", False, "the port 0 is outside 1..65535"),
        ("https://example.com:70000/hook", False, "the port 70000 is outside 1..65535"),
        ("https://example.com:https/hook", False, "the port 'https' is not a number"),
        ("https://exa\tmple.com/hook", False, "contains spaces or control characters"),
        ("https://a..b/hook", False, "the host name 'a..b' is not a valid domain name"),
        ("https://no-such-host.invalid/hook", False, "the host name no-such-host.invalid does not resolve"),
    ],
)
def test_bad_urls_are_refused_with_their_own_message(url, allow_private, message):
    with pytest.raises(RefusedTarget) as caught:
        resolve_target(url, allow_private=allow_private)
    assert message in str(caught.value)


def test_check_url_asks_no_dns():
    assert check_url("https://no-such-host.invalid/hook", allow_private=False) == "https://no-such-host.invalid/hook"


def test_host_is_normalised_for_dns_tls_and_the_host_header():
    target = resolve_target("HTTP://LocalHost:8123/ä?q=ü", allow_private=True)
    assert (target.scheme, target.host, target.path) == ("http", "localhost", "/%C3%A4?q=%C3%BC")
    with pytest.raises(RefusedTarget, match=r"xn--bcher-kva\.invalid does not resolve"):
        resolve_target("https://bücher.invalid/", allow_private=False)


def test_a_refused_url_sends_no_packet():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.settimeout(1.0)
    seen: list[object] = []

    def watch() -> None:
        try:
            seen.append(listener.accept())
        except TimeoutError:
            pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        attempts = [
            deliver(f"https://127.0.0.1:{port}/", b"{}", {}, allow_private=False),
            deliver(f"https://{HOSTNAME}:{port}/", b"{}", {}, allow_private=False),
            deliver(f"http://127.0.0.1:{port}/", b"{}", {}, allow_private=False),
        ]
        watcher.join()
    finally:
        listener.close()
    assert seen == []
    assert [(a.status, a.seconds, a.delivered) for a in attempts] == [(None, 0.0, False)] * 3
    assert attempts[0].error == "refused: the address 127.0.0.1 is loopback; webhook URLs must reach a public address"
    assert attempts[1].error.startswith(f"refused: the address 127.0.0.1 of {HOSTNAME} is loopback")
    assert attempts[2].error.startswith("refused: the scheme 'http' is not allowed")
