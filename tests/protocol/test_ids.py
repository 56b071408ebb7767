"""Gateway-issued identifiers."""

from __future__ import annotations

import re

from gateway.protocol import ids

ALPHABET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_ids_have_the_contract_form_and_carry_their_tag() -> None:
    tag = ids.new_tag()
    identifiers = {ids.new_id(tag) for _ in range(1000)}
    assert len(identifiers) == 1000
    assert all(ALPHABET.match(i) and ids.tag_of(i) == tag for i in identifiers)
    assert ids.tag_of("short") is None and ids.tag_of("A" * 32 + "!") is None


def test_ids_never_start_with_a_dash() -> None:
    # An ID starting with "-" reads as an option on command lines (aoi-ctl).
    assert not any(ids.new_tag().startswith("-") for _ in range(20000))
