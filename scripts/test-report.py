#!/usr/bin/env python3
"""Sums Boost.Test XML reports into one closing line, LABEL: N passed, N failed, N skipped.

Usage: test-report.py LABEL REPORT.xml...  (an empty LABEL prints the bare counts). A report
is Boost.Test's XML or a JUnit one (Maven Surefire's TEST-*.xml, from the storm/ module).
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


def surefire(root, label):
    """A JUnit report (Maven Surefire's TEST-*.xml, one <testsuite>): counts and failed names."""
    tests = int(root.get("tests", "0"))
    bad = int(root.get("failures", "0")) + int(root.get("errors", "0"))
    skipped = int(root.get("skipped", "0"))
    names = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            names.append(f"{root.get('name', '?')}/{case.get('name', '?')}")
    return tests - bad - skipped, bad, skipped, names


def main(argv):
    label, reports = argv[1], argv[2:]
    prefix = f"{label}: " if label else ""
    passed = failed = skipped = 0
    names = []
    for path in reports:
        try:
            root = ET.parse(path).getroot()
            if root.tag == "testsuite":
                p, f, k, n = surefire(root, label)
                passed, failed, skipped = passed + p, failed + f, skipped + k
                names += n
                continue
            top = root.find("TestSuite")
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
