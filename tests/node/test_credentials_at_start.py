"""A credential file that does not parse stops the node at start: exit 2, one line naming
the option and the line, never the file's content (contract 2.4)."""

from __future__ import annotations

import pytest

from tests.auth import write
from tests.runtime.test_settings import assert_refused, run_gateway

SECRET = "AAAAAAAAAAAAAAAAAAAA"  # a valid key's characters: must never be echoed

BROKEN = [
    ("--api-keys-file", b"# only a comment\n\n", "holds no key"),
    ("--api-keys-file", b"short *\n", "line 1"),
    ("--api-keys-file", f"# keys\n{SECRET}\n".encode(), "line 2"),
    ("--api-keys-file", f"{SECRET} *\n{SECRET} com.x\n".encode(), "line 2: the same key as line 1"),
    ("--api-keys-file", b"sha256:ABCDEF *\n", "line 1"),
    ("--api-keys-file", f"{SECRET} com.a,,com.b\n".encode(), "line 1"),
    ("--api-keys-file", f"{SECRET} *,com.a\n".encode(), "line 1"),
    ("--api-keys-file", b"\xff\xfe AAAA *\n", "line 1: is not UTF-8"),
    ("--device-jwt-key", f"{SECRET}\n".encode(), "at least 32 bytes"),
    ("--device-jwt-key", b'{"keys": [', "line 1"),
    ("--device-jwt-key", b'{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}', "kid"),
    ("--device-jwt-key", f"-----BEGIN PUBLIC KEY-----\n{SECRET}\n".encode(), "PEM"),
    ("--device-jwt-key", f"ssh-ed25519 {SECRET * 3}\n".encode(), "not an HMAC secret"),
]


@pytest.mark.parametrize(("option", "content", "message"), BROKEN)
def test_a_broken_file_stops_the_node(tmp_path, option, content, message):
    result = run_gateway(option, str(write(tmp_path / "credentials", content)))
    assert_refused(result, option)
    assert message in result.stderr
    assert SECRET not in result.stderr


@pytest.mark.parametrize("option", ["--device-jwt-audience", "--device-jwt-issuer"])
def test_audience_or_issuer_without_a_key_stops_the_node(option):
    assert_refused(run_gateway(option, "aoi"), "need --device-jwt-key")


@pytest.mark.parametrize("option", ["--api-keys-file", "--device-jwt-key"])
def test_a_missing_file_stops_the_node(tmp_path, option):
    result = run_gateway(option, str(tmp_path / "nowhere"))
    assert_refused(result, option)
    assert "cannot be read" in result.stderr
