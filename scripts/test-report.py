#!/usr/bin/env python3
"""Sums Boost.Test XML reports into one closing line, LABEL: N passed, N failed, N skipped.

Usage: test-report.py LABEL REPORT.xml...  (an empty LABEL prints the bare counts). A report
is Boost.Test's XML or a JUnit one (Maven Surefire's TEST-*.xml, from the storm/ module).
The reports are written with --report_format=XML --report_level=detailed, so each failed case
is named too: one "LABEL: failed: suite/case" line per case, just above the closing line, where
a reader of the last lines of a long CI log sees it. Where Boost.Test also wrote a JUnit log
beside the report (X.junit.xml beside X.report.xml, from --logger=...:JUNIT,error,FILE), the
first failed checks of each failed case follow its line, as "  file:line: message". A missing
or unreadable report (a suite that crashed before writing it) counts as one failure.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

MAX_CHECKS = 3   # failed checks shown per case
MAX_CHARS = 300  # of each check's message


def failed_cases(suite, prefix):
    for child in suite:
        name = prefix + child.get("name", "?")
        if child.tag == "TestSuite":
            yield from failed_cases(child, name + "/")
        elif child.tag == "TestCase" and child.get("result") in ("failed", "aborted", "timed_out"):
            yield name


def junit_failures(report_path):
    """{"suite/case": ["file:line: message", ...]} from the JUnit log beside a Boost report."""
    path = re.sub(r"\.report\.xml$", ".junit.xml", report_path)
    if path == report_path or not os.path.exists(path):
        return {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    out = {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}/{case.get('name', '?')}".lstrip("/")
        checks = []
        for bad in list(case.iter("failure")) + list(case.iter("error")):
            text = bad.text or ""
            f = re.search(r"- file\s*: (.*)", text)
            l = re.search(r"- line\s*: (.*)", text)
            m = re.search(r"- message: (.*)", text)
            where = f"{f.group(1).strip()}:{l.group(1).strip()}" if f and l else bad.get("type", "?")
            msg = (m.group(1).strip() if m else bad.get("message", "")).replace("\n", " ")
            checks.append(f"{where}: {msg[:MAX_CHARS]}")
        if checks:
            out[name] = checks
    return out


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
    details = {}
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
            details.update(junit_failures(path))
        except (OSError, ET.ParseError, ValueError) as e:
            print(f"{label or 'tests'}: no report in {path} (the suite did not finish: {e})", file=sys.stderr)
            failed += 1
    for name in names:
        print(f"{prefix}failed: {name}")
        checks = details.get(name, [])
        for check in checks[:MAX_CHECKS]:
            print(f"{prefix}  {check}")
        if len(checks) > MAX_CHECKS:
            print(f"{prefix}  ... and {len(checks) - MAX_CHECKS} more failed checks")
    print(f"{prefix}{passed} passed, {failed} failed, {skipped} skipped")


if __name__ == "__main__":
    main(sys.argv)
