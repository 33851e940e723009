"""Accepted risks are matched a column at a time: the globs, as RE2 patterns, match what fnmatchcase matches."""

from __future__ import annotations

import datetime as dt
import fnmatch

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from credsight.rules.exceptions import AcceptedRisk, glob_pattern, mark, match

ALPHABET = "abz-*?[]!^\\.1"
TODAY = dt.date(2026, 11, 23)


@settings(max_examples=1000, deadline=None)
@given(st.text(ALPHABET, max_size=6), st.lists(st.text("abz-.[]^!\\1\n", max_size=5), min_size=1, max_size=8))
def test_a_glob_matches_what_fnmatchcase_matches(glob: str, names: list[str]) -> None:
    try:
        expected = [fnmatch.fnmatchcase(name, glob) for name in names]
    except Exception:  # Python refuses the glob (a bad range): then nothing is promised
        return
    found = pc.match_substring_regex(pa.array(names), glob_pattern(glob)).to_pylist()
    assert found == expected, glob_pattern(glob)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["root-mfa", "access-key-rotation"]),
            st.sampled_from(["111", "222"]),
            st.text("ab-", max_size=3),
        ),
        max_size=8,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["root-*", "*", "access-key-rotation"]),
            st.sampled_from(["1*", "222", "*"]),
            st.sampled_from(["a*", "*", "b"]),
            st.booleans(),
        ),
        max_size=4,
    ),
)
def test_marking_a_table_is_matching_each_finding(
    findings: list[tuple[str, str, str]], entries: list[tuple[str, str, str, bool]]
) -> None:
    risks = [
        AcceptedRisk(rule, account, user, f"reason {n}", f"owner {n}", TODAY + dt.timedelta(days=-1 if gone else 30), n)
        for n, (rule, account, user, gone) in enumerate(entries, start=1)
    ]
    table = pa.table(
        {"rule": [f[0] for f in findings], "account_id": [f[1] for f in findings], "user": [f[2] for f in findings]},
        schema=pa.schema([("rule", pa.string()), ("account_id", pa.string()), ("user", pa.string())]),
    )
    marked = mark(table, risks, TODAY).to_pylist()
    for row, (rule, account, user) in zip(marked, findings, strict=True):
        covering = match(risks, rule, account, user, TODAY)
        assert row["status"] == ("excepted" if covering else "open")
        assert (row["exception_reason"], row["exception_owner"], row["exception_expires"]) == (
            (covering.reason, covering.owner, covering.expires) if covering else (None, None, None)
        )


def test_no_active_exception_marks_every_finding_open_in_the_same_columns() -> None:
    table = pa.table({"rule": ["root-mfa", "x"], "account_id": ["1", "2"], "user": ["<root_account>", "b"]})
    expired = AcceptedRisk("*", "*", "*", "old", "ops", TODAY - dt.timedelta(days=1), 1)
    nothing_covered = AcceptedRisk("no-such-rule", "*", "*", "never", "ops", TODAY + dt.timedelta(days=1), 2)
    slow = mark(table, [nothing_covered], TODAY)
    for fast in (mark(table, [], TODAY), mark(table, [expired], TODAY)):
        assert fast.schema == slow.schema and fast.equals(slow)
        assert fast.column("status").to_pylist() == ["open", "open"]


def test_the_globs_that_need_care() -> None:
    names = ["b", "a", "z", "-", "[", "]", "!", "x", "bx", "\\"]
    for glob in ["[b-a]", "[!b-a]x", "[a-]", "[-a]", "[\\]", "[[]", "[]a]", "[!]", "[]", "a[", "[z-a-b]", "[!a-z]"]:
        expected = [fnmatch.fnmatchcase(name, glob) for name in names]
        assert pc.match_substring_regex(pa.array(names), glob_pattern(glob)).to_pylist() == expected, glob
