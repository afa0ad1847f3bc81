#!/usr/bin/env python3
"""Sums Boost.Test XML reports into one closing line, LABEL: N passed, N failed, N skipped.

Usage: test-report.py LABEL REPORT.xml...  (an empty LABEL prints the bare counts).
The reports are written with --report_format=XML --report_level=detailed, so each failed case
is named too: one "LABEL: failed: suite/case" line per case, just above the closing line, where
a reader of the last lines of a long CI log sees it. A missing or unreadable report (a suite
that crashed before writing it) counts as one failure.
"""
import sys
import xml.etree.ElementTree as ET


def failed_cases(suite, prefix):
    for child in suite:
        name = prefix + child.get("name", "?")
        if child.tag == "TestSuite":
            yield from failed_cases(child, name + "/")
        elif child.tag == "TestCase" and child.get("result") in ("failed", "aborted", "timed_out"):
            yield name


def main(argv):
    label, reports = argv[1], argv[2:]
    prefix = f"{label}: " if label else ""
    passed = failed = skipped = 0
    names = []
    for path in reports:
        try:
            top = ET.parse(path).getroot().find("TestSuite")
            if top is None:
                raise ValueError("no TestSuite element")
            passed += int(top.get("test_cases_passed", "0"))
            # aborted and timed-out cases count as failed too
            failed += int(top.get("test_cases_failed", "0"))
            skipped += int(top.get("test_cases_skipped", "0"))
            names += failed_cases(top, "")
        except (OSError, ET.ParseError, ValueError) as e:
            print(f"{label or 'tests'}: no report in {path} (the suite did not finish: {e})", file=sys.stderr)
            failed += 1
    for name in names:
        print(f"{prefix}failed: {name}")
    print(f"{prefix}{passed} passed, {failed} failed, {skipped} skipped")


if __name__ == "__main__":
    main(sys.argv)
