"""Splitting a child's output into bounded, printable lines, however the bytes arrive."""

from __future__ import annotations

import itertools
import re
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvmfs_operator.publisher.lines import Line, LineSplitter, printable


def split_all(chunks: list[bytes], max_bytes: int = 4096) -> list[Line]:
    splitter = LineSplitter(max_bytes)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.close()


def expected(data: bytes, max_bytes: int) -> list[Line]:
    """The reference: split the whole output at once, cut what is too long."""
    *complete, unfinished = re.split(rb"[\r\n]", data)
    lines = [Line(printable(raw[:max_bytes], whole=False), cut=True) if len(raw) > max_bytes
             else Line(printable(raw)) for raw in complete]
    if len(unfinished) > max_bytes:
        lines.append(Line(printable(unfinished[:max_bytes], whole=False), cut=True))
    elif unfinished:
        lines.append(Line(printable(unfinished)))
    return lines


def test_lines_end_at_newline_and_carriage_return() -> None:
    assert split_all([b"one\ntwo\r\nthree\rfour\n"]) == [
        Line("one"), Line("two"), Line(""), Line("three"), Line("four")]


def test_a_partial_line_waits_for_its_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"Processing chan") == []
    assert splitter.feed(b"ges...") == []
    assert splitter.feed(b" done\nnext") == [Line("Processing changes... done")]
    assert splitter.close() == [Line("next")]
    assert splitter.close() == []


def test_a_long_line_is_cut_at_once_and_its_rest_dropped() -> None:
    splitter = LineSplitter(max_bytes=10)
    assert splitter.feed(b"0123456") == []
    assert splitter.feed(b"789abcdef") == [Line("0123456789", cut=True)]  # live: not at its end
    assert splitter.feed(b"more of the same line") == []
    assert splitter.feed(b" end\nshort\n") == [Line("short")]
    assert splitter.close() == []


def test_a_line_of_exactly_the_bound_is_whole() -> None:
    assert split_all([b"0123456789", b"\n", b"0123456789"], max_bytes=10) == [
        Line("0123456789"), Line("0123456789")]


def test_a_cut_never_splits_a_character() -> None:
    [line] = split_all(["é".encode() * 10], max_bytes=5)  # 2 bytes each: the 3rd is split
    assert line == Line("éé", cut=True)


def test_invalid_utf8_and_control_characters_become_replacement_characters() -> None:
    [line] = split_all([b"bad \xff\xfe \x1b[31mred\x1b[0m\ttab \x00 \xc2\x9b"])
    assert line.text == "bad \ufffd\ufffd \ufffd[31mred\ufffd[0m\ttab \ufffd \ufffd"


def test_memory_stays_bounded_when_a_line_never_ends() -> None:
    chunk = b"x" * 65536
    splitter = LineSplitter(max_bytes=4096)
    tracemalloc.start()
    try:
        lines = [line for _ in range(800) for line in splitter.feed(chunk)]  # 50 MiB, no newline
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == [Line("x" * 4096, cut=True)]
    assert peak < 256 * 1024
    assert splitter.feed(b"\nafter\n") == [Line("after")]


@settings(max_examples=200, database=None, deadline=None,  # no I/O: no example database
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8),
       max_bytes=st.integers(1, 40))
def test_any_chunking_gives_the_same_lines(data: bytes, cuts: list[int], max_bytes: int) -> None:
    bounds = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})
    chunks = [data[start:end] for start, end in itertools.pairwise(bounds)]
    assert split_all(chunks, max_bytes) == expected(data, max_bytes)
    assert all(len(line.text.encode()) <= max_bytes * 3 for line in split_all(chunks, max_bytes))
