#!/usr/bin/env python3
"""Runs the Autobahn WebSocket test suite's cases against an echo endpoint.

The cases are the Autobahn TestSuite's own case files, driven by kosoku
(a Python 3 runner for them, on PyPI): kosoku is the client, the server
under test must echo every text and binary message back unchanged.

    python3 tests/autobahn.py ws://127.0.0.1:PORT/ws/echo

runs sections 1-7, 9 and 10 (framing, pings and pongs, reserved bits,
opcodes, fragmentation, UTF-8, close handling, limits and performance,
auto-fragmentation), one case at a time, then prints a summary per
section and every case that did not end OK, with its description and
kosoku's explanation. Sections 12 and 13 (permessage-deflate) are left
out: the server does not negotiate compression.

Verdicts. kosoku gives each case two, with the Autobahn labels:
- the message exchange: OK, NON-STRICT (conformant, but a SHOULD is not
  followed, e.g. invalid UTF-8 is caught at the end of a message rather
  than as soon as it arrives), INFORMATIONAL (the RFC leaves it open),
  FAILED (a MUST is broken), UNIMPLEMENTED, or ERROR (no verdict: the
  handshake failed or the connection broke);
- the closing handshake: OK, INFORMATIONAL, or FAILED, UNCLEAN, WRONG
  CODE, FAILED BY CLIENT.
A case passes when both are OK, NON-STRICT or INFORMATIONAL (kosoku's
own `passed`). Each case is counted once, under its exchange verdict,
except that a passing exchange with a failing close counts as FAILED.

Exit status: 0 when every case passed; 1 when any did not, or the run
did not finish within --timeout; 2 for bad arguments; 77 when kosoku is
not installed (the conventional "skipped" status), so that a caller can
tell a missing tool from a failing server.

Message sizes. The largest message a case sends is 16 MiB (9.1.6 and
9.2.6); cases 9.3.1 and 9.4.1 send a 4 MiB message in 65,536 fragments of
64 bytes. A server whose limits are lower closes those connections (1009,
"message too big") and the cases count as FAILED: run it with larger
limits, or pass --max-message-bytes to leave out (and list) the cases
that need more. MESSAGE_BYTES below has the sizes, read from kosoku
0.1.0's case files.

A case's wire log (every frame, both ways) is in the HTML report of
kosoku's own command: `kosoku URL -i CASE -o DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import importlib.metadata
import os
import re
import sys
import time

# The sections run, with their Autobahn titles.
SECTIONS = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Misc (auto-fragmentation)",
}

# The largest message (in bytes, after reassembly) each case sends, where
# it is over 64 KiB, and how many frames it comes in where that is more
# than one; every other case of these sections stays at or under 64 KiB.
# (case glob, message bytes, frames per message)
MESSAGE_BYTES = [
    ("7.1.6", 256 << 10, 1),
    ("9.1.2", 256 << 10, 1),
    ("9.2.2", 256 << 10, 1),
    ("9.1.3", 1 << 20, 1),
    ("9.2.3", 1 << 20, 1),
    ("9.1.4", 4 << 20, 1),
    ("9.2.4", 4 << 20, 1),
    ("9.1.5", 8 << 20, 1),
    ("9.2.5", 8 << 20, 1),
    ("9.1.6", 16 << 20, 1),
    ("9.2.6", 16 << 20, 1),
    # 4 MiB in fragments of 64 B, 256 B, 1 KiB, ... 4 MiB.
    *[
        (f"9.{s}.{i + 1}", 4 << 20, (4 << 20) // frag)
        for s in (3, 4)
        for i, frag in enumerate([64 << (2 * k) for k in range(9)])
    ],
    # 1 MiB in one frame, written in TCP chops of 64 to 2048 bytes.
    ("9.5.*", 1 << 20, 1),
    ("9.6.*", 1 << 20, 1),
]

# Verdicts that pass, for the exchange and for the close.
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
COLUMNS = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED", "ERROR"]


def message_bytes(case_id: str) -> tuple[int, int] | None:
    """Returns (bytes, frames) of the largest message `case_id` sends, if
    it is over 64 KiB."""
    for glob, size, frames in MESSAGE_BYTES:
        if fnmatch.fnmatchcase(case_id, glob):
            return size, frames
    return None


def size_text(n: int) -> str:
    """Says a byte count in KiB or MiB, as the case descriptions do."""
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def section_of(case_id: str) -> str:
    return case_id.split(".", 1)[0]


def case_key(case_id: str) -> list[int]:
    return [int(p) for p in case_id.split(".")]


def category(result) -> str:
    """The one column a case is counted in (see the module docs)."""
    behavior = result.behavior.value
    if behavior in PASSING and result.behavior_close.value not in PASSING:
        return "FAILED"
    return behavior


def plain(text: str) -> str:
    """A case description without its HTML markup, on one line."""
    return " ".join(re.sub(r"<[^>]+>", "", text or "").split())


def print_summary(results, elapsed: float, skipped: list[str]) -> None:
    by_section: dict[str, list] = {}
    for r in results:
        by_section.setdefault(section_of(r.case_id), []).append(r)

    def row(title: str, cases: int, counts: dict[str, int], seconds: float) -> None:
        cells = "".join(f"{counts[c]:>{len(c) + 2}}" for c in COLUMNS)
        print(f"{title:<30}{cases:>6}{cells}{seconds:>8.1f}s")

    heads = "".join(f"{c:>{len(c) + 2}}" for c in COLUMNS)
    print(f"{'section':<30}{'cases':>6}{heads}    time")
    totals = dict.fromkeys(COLUMNS, 0)
    for section in sorted(by_section, key=int):
        rs = by_section[section]
        counts = dict.fromkeys(COLUMNS, 0)
        for r in rs:
            cat = category(r)
            counts[cat if cat in counts else "ERROR"] += 1
        for c in COLUMNS:
            totals[c] += counts[c]
        seconds = sum(r.duration for r in rs) / 1000
        row(f"{section} {SECTIONS.get(section, '')}", len(rs), counts, seconds)
    row("all (wall clock)", len(results), totals, elapsed)

    not_ok = [
        r for r in results if (r.behavior.value, r.behavior_close.value) != ("OK", "OK")
    ]
    # Cases without a verdict (a failed handshake, a broken connection)
    # have no more to say than why: one line per reason.
    errors: dict[str, list[str]] = {}
    for r in not_ok:
        if r.behavior.value == "ERROR":
            errors.setdefault(r.result, []).append(r.case_id)
    if errors:
        print("\nCases without a verdict (ERROR):")
        for reason, ids in errors.items():
            print(f"  {len(ids)} cases: {reason}")
            if len(ids) == len(results):
                print("           (every case)")
            else:
                more = " ..." if len(ids) > 30 else ""
                print(f"           {' '.join(ids[:30])}{more}")
    not_ok = [r for r in not_ok if r.behavior.value != "ERROR"]
    if not_ok:
        print("\nCases not OK (exchange verdict / close verdict):")
    for r in not_ok:
        mark = "" if r.passed else "  <- fails"
        print(f"  {r.case_id:<8} {r.behavior.value} / {r.behavior_close.value}{mark}")
        print(f"           {plain(r.description)}")
        size = message_bytes(r.case_id)
        if size:
            frames = f" in {size[1]} frames" if size[1] > 1 else ""
            print(f"           (a {size_text(size[0])} message{frames})")
        if not r.passed:
            print(f"           exchange: {r.result}")
            print(f"           close: {r.result_close}")
        if r.remote_close_code is None:
            codes = "server sent no close code"
        else:
            codes = f"server sent {r.remote_close_code}"
        if r.remote_close_reason:
            codes += f" ({r.remote_close_reason!r})"
        print(f"           {codes}")
    if skipped:
        print("\nNot run, their messages are over --max-message-bytes:", ", ".join(skipped))


async def run(url: str, cases: list[str], exclude: list[str], timeout: float):
    from kosoku import FailureError, run_fuzzingclient

    try:
        return await asyncio.wait_for(
            run_fuzzingclient(url, cases, exclude or None), timeout
        )
    except FailureError as failure:
        # Raised when any case did not pass. It carries every result, not
        # only the failed ones (kosoku 0.1.0; its own command relies on it).
        return failure.results


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run the Autobahn cases of sections 1-7, 9 and 10"
        " against a WebSocket echo endpoint."
    )
    parser.add_argument("url", help="the echo endpoint, e.g. ws://127.0.0.1:8080/ws/echo")
    parser.add_argument(
        "--cases",
        action="append",
        metavar="GLOB",
        help="case ids or globs to run instead of sections 1-7, 9, 10"
        " (repeatable), e.g. 9.3.*",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="case ids or globs to leave out (repeatable)",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        metavar="N",
        help="leave out the cases that send a message over N bytes"
        " (the server's limit); they are listed",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        metavar="SECONDS",
        help="fail if the whole run takes longer (default %(default)s);"
        " kosoku itself waits on a silent server forever",
    )
    args = parser.parse_args()

    try:
        version = importlib.metadata.version("kosoku")
    except importlib.metadata.PackageNotFoundError:
        print(
            f"kosoku is not installed for {sys.executable}: pip install kosoku",
            file=sys.stderr,
        )
        return 77

    cases = args.cases or [f"{s}.*" for s in SECTIONS]
    exclude = list(args.exclude)
    skipped = []
    if args.max_message_bytes is not None:
        skipped = sorted(
            (glob for glob, size, _ in MESSAGE_BYTES if size > args.max_message_bytes),
            key=lambda glob: case_key(glob.replace("*", "0")),
        )
        exclude += skipped

    print(f"kosoku {version}: cases {' '.join(cases)} against {args.url}", flush=True)
    start = time.monotonic()
    try:
        results = asyncio.run(run(args.url, cases, exclude, args.timeout))
    except asyncio.TimeoutError:
        print(f"the run did not finish within {args.timeout:g} s", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - start
    if not results:
        print("no case was run: check --cases and --exclude", file=sys.stderr)
        return 1

    results = sorted(results, key=lambda r: case_key(r.case_id))
    print_summary(results, elapsed, skipped)
    failed = [r.case_id for r in results if not r.passed]
    if failed:
        ids = f": {' '.join(failed)}" if len(failed) <= 30 else ""
        print(f"\n{len(failed)} of {len(results)} cases failed{ids}")
        return 1
    print(f"\nall {len(results)} cases passed")
    return 0


if __name__ == "__main__":
    code = main()
    # Leave without the interpreter's shutdown: with kosoku 0.1.0 it
    # sometimes aborts there (SIGABRT, after the run and its report),
    # which would turn a result into a crash.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
