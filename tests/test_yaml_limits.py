"""Hostile YAML is refused while it is read: alias bombs before they are built, nesting before
Python's recursion limit, files that are not files before they are read; and the loader
never fails with anything but BadInput, whatever the text."""

import os
import threading
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.engine import yamlsource
from ops.engine.yamlsource import load_yaml_file, parse_yaml
from ops.errors import BadInput
from tests.test_bad_inputs import describe, invoke

EVENT_SOURCES = {"libyaml": yamlsource.LIBYAML_EVENTS, "PyYAML's Python parser": yamlsource.PythonEvents}


@pytest.fixture(autouse=True, params=sorted(EVENT_SOURCES))
def event_source(request, monkeypatch):
    """Every limit holds whichever parser gives the composer its events: libyaml's (used when
    PyYAML has it) and PyYAML's own (used when it does not)."""
    events = EVENT_SOURCES[request.param]
    if events is None:
        pytest.fail("this PyYAML has no libyaml: ops would fall back to the Python parser; install PyYAML's wheel")
    monkeypatch.setattr(yamlsource, "LOADER", yamlsource.loader_class(events))
    return request.param


FAST = 1.0  # seconds: each bomb below is refused well within this on a busy 2-core machine
SMALL = 20_000_000  # bytes of memory a refusal may take at its peak


def alias_bomb(levels: int, width: int, merge: bool = False) -> str:
    """'billion laughs': each level repeats the one before `width` times (width**levels nodes)."""
    lines = ["name: lab", "vars:", "  l0: &l0 {" + ", ".join(f"k{i}: x" for i in range(width)) + "}"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  l{level}: &l{level} " + ("{<<: [" + aliases + "]}" if merge else f"[{aliases}]"))
    return "\n".join(lines + ["steps: []"]) + "\n"


WORST = {
    "9 levels of 5 (the 336-byte bomb)": alias_bomb(9, 5),
    "30 levels of 2": alias_bomb(30, 2),
    "6 levels of 100": alias_bomb(6, 100),
    "merge keys, 8 levels of 10": alias_bomb(8, 10, merge=True),
}


def refused_fast(text: str):
    """The BadInput parse_yaml raises for text, with the time and peak memory it took."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(BadInput) as refusal:
            parse_yaml(text, "bomb.yaml")
        return refusal.value, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(WORST))
def test_alias_bombs_are_refused_in_milliseconds_without_being_built(name):
    error, seconds, peak = refused_fast(WORST[name])
    assert "YAML aliases expand to more than 10000 nodes" in str(error)
    assert error.source == "bomb.yaml" and error.line > 3
    assert seconds < FAST, f"{name}: {seconds:.2f}s"
    assert peak < SMALL, f"{name}: {peak} bytes"


def test_the_bomb_through_the_cli_is_one_line_and_exit_2(workdir):
    (workdir / "lab.yaml").write_text(WORST["9 levels of 5 (the 336-byte bomb)"])
    started = time.perf_counter()
    result = invoke(["validate", "lab.yaml"])
    assert result.exit_code == 2, describe(result)
    assert result.output.startswith("ops: error: lab.yaml:") and "fewer nested aliases" in result.output
    assert time.perf_counter() - started < 5 * FAST


def test_aliases_within_the_budget_still_work():
    doc = parse_yaml(alias_bomb(4, 5), "ok.yaml")  # 5**4 = 625 nodes expanded
    assert len(doc["vars"]["l3"]) == 5 and doc["vars"]["l3"][0][0][0] == {f"k{i}": "x" for i in range(5)}
    merged = parse_yaml("base: &b {a: 1}\nuse: {<<: *b, c: 2}\n", "merge.yaml")
    assert merged["use"] == {"a": 1, "c": 2}


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_deep_flow_nesting_is_refused_before_the_recursion_limit(opener, closer):
    text = "x: " + opener * 100_000 + "1" + closer * 100_000
    error, seconds, _ = refused_fast(text)
    assert f"nested more than {yamlsource.MAX_DEPTH} levels deep" in str(error) and error.line == 1
    assert seconds < FAST


def test_nesting_up_to_the_limit_is_accepted():
    depth = yamlsource.MAX_DEPTH - 2  # sequences, inside the top-level mapping, around a scalar
    value = parse_yaml("x: " + "[" * depth + "1" + "]" * depth, "deep.yaml")["x"]
    for _ in range(depth):
        value = value[0]
    assert value == 1
    with pytest.raises(BadInput, match="nested more than"):
        parse_yaml("x: " + "[" * (depth + 1) + "1" + "]" * (depth + 1), "deep.yaml")


def test_many_plain_nodes_and_a_huge_value_are_refused():
    with pytest.raises(BadInput, match="holds more than 10000 nodes"):
        parse_yaml("x: [" + ",".join(["1"] * 20_000) + "]", "wide.yaml")
    with pytest.raises(BadInput, match="limited to 65536"):
        parse_yaml("x: " + "a" * 70_000, "long.yaml")
    with pytest.raises(BadInput, match="numbers are limited to 1000"):
        parse_yaml("x: 1" + ":1" * 20_000, "sexagesimal.yaml")  # base 60: seconds of big-int arithmetic


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "lab.yaml"
    os.mkfifo(fifo)
    outcome = {}

    def load():
        try:
            load_yaml_file(fifo)
        except BadInput as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the reader so the test ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("loading a FIFO waited for a writer")
    assert "named pipe" in str(outcome["error"])


def test_dev_zero_is_refused_without_reading_it():
    started = time.perf_counter()
    with pytest.raises(BadInput, match="character device"):
        load_yaml_file("/dev/zero")
    assert time.perf_counter() - started < FAST


def test_a_file_that_grows_past_the_limit_is_read_only_up_to_it(tmp_path, monkeypatch):
    path = tmp_path / "lab.yaml"
    path.write_text("# " + "x" * 100 + "\n")
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 50)  # the stat saw a small file; the read finds more
    real_stat = os.stat

    def stat_saying_10_bytes(name, *args, **kwargs):
        found = real_stat(name, *args, **kwargs)
        return os.stat_result(found[:6] + (10,) + found[7:]) if str(name) == str(path) else found

    monkeypatch.setattr(yamlsource.os, "stat", stat_saying_10_bytes)
    with pytest.raises(BadInput, match="more than 50 bytes"):
        load_yaml_file(path)


TOKENS = list("ab01 \n\t-:,[]{}&*!|>'\"#%@?.<~=") + [
    "!!int ",
    "!!float ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!map ",
    "!!seq ",
    "!!bool ",
    "<<: ",
    "2001-02-30",
    ".nan",
    "1e3",
    "0x",
    "0b",
    "1:2",
    "&a ",
    "*a",
    "---",
    "...",
    "%YAML 1.1\n",
]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],  # the parser: same for all
)
@given(YAMLISH)
def test_the_loader_only_ever_returns_or_raises_bad_input(text):
    try:
        parse_yaml(text, "any.yaml")
    except BadInput as exc:
        assert exc.source == "any.yaml" and "\n" not in exc.message


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            [
                "a: &a [x, x]",
                "b: &b [*a, *a, *a]",
                "c: [*b, *b, *a]",
                "d: *c",
                "e: {<<: *a}",
                "f: &f {k: *b}",
                "g: {<<: [*f, *f]}",
                "h: [*h]",
                "i: &i [*i]",
            ]
        ),
        max_size=12,
    )
)
def test_any_arrangement_of_anchors_and_aliases_returns_or_raises_bad_input(lines):
    try:
        parse_yaml("\n".join(lines) + "\n", "aliases.yaml")
    except BadInput:
        pass
