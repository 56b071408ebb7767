"""The client scripts' prologue: each script gets the head and only the sections it uses."""

from __future__ import annotations

from gateway.store.scripting import SOURCES, with_prologue

PROLOGUE = """local HEAD = 1
--@ A
local A = HEAD
--@ B
local B = A + 1
--@ C D
local function C() return B end
local D = 4
--@ E
local E = 5
"""


def test_a_script_gets_the_sections_it_uses_and_what_they_use() -> None:
    source = with_prologue("return C()\n", PROLOGUE)
    assert source == (
        "local HEAD = 1\nlocal A = HEAD\nlocal B = A + 1\n"
        "local function C() return B end\nlocal D = 4\nreturn C()\n"
    )


def test_a_script_using_no_section_gets_the_head_alone() -> None:
    assert with_prologue("return HEAD\n", PROLOGUE) == "local HEAD = 1\nreturn HEAD\n"


def test_the_hot_scripts_leave_out_what_they_do_not_use() -> None:
    assert "local function remove_client" not in SOURCES["sync"]
    assert "local function tell" not in SOURCES["sync"]
    assert "local APPS" not in SOURCES["send"]
    assert "local function remove_client" in SOURCES["deregister_client"]
