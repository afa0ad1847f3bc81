#!/usr/bin/env python3
"""code-shape: functions and classes over issue 23's size limits (make code-shape).

Scans every *.h and *.cc under agent/, coordinator/ and common/ (--dirs) and prints one line per
violation, sorted by file and line, then exits 1 if there was any:

    agent/agent.cc:52: function Agent::Init is 183 lines (limit 80)
    agent/agent.h:61: class Agent is 1152 lines (limit 500): agent/agent.h 123, agent/agent.cc 749, ...

A class's line names where its definition starts and then its lines per file.

How it measures (a reader's lines: comments and blank lines inside count):
- A function is a definition with a body: free, member (in the class or out of line as
  Class::name), constructor (its initializer list too), destructor, operator, template, in any
  namespace. Its length runs from the line of its name to the line of its closing brace,
  inclusive. Lambdas and local classes inside it are part of it. A lambda assigned to a variable
  at namespace scope counts as a function named after the variable.
- A class (class, struct or union; not enum) measures its definition, from the `class` keyword to
  the closing brace, plus every out-of-line member definition (Class::name, from the name's line
  to the closing brace) in any scanned file. A nested class's members count for it and for each
  class that encloses it. Classes defined inside a function are part of the function only.

It is a scanner, not a compiler: comments, string, character and raw string literals and
preprocessor lines are blanked first, so braces in them do not count; code whose braces only
balance across #if branches would confuse it (none in the tree today). Python 3 standard library
only. --self-test checks the tricky cases on C++ snippets embedded below.
"""

import argparse
import bisect
import os
import re
import sys

DEFAULT_DIRS = ["agent", "coordinator", "common"]

# Words that can precede a parenthesis without naming a function.
NOT_NAMES = {
    "if", "for", "while", "switch", "return", "sizeof", "alignof", "decltype", "alignas", "noexcept",
    "__attribute__", "static_assert", "catch", "requires", "new", "delete", "throw", "typeid",
    "co_return", "co_await", "co_yield", "defined", "__declspec", "operator",
}


# --- Blanking: literals, comments and preprocessor lines become spaces (newlines are kept). ----

def blank(src):
    """Returns src with comments, literals and preprocessor lines replaced by spaces, the same
    length and with the same newlines. A string literal keeps its two quotes."""
    out = list(src)
    n = len(src)
    i = 0
    line_start = True  # only spaces so far on this line

    def wipe(a, b):
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if line_start and c == "#":
            # A preprocessor directive, with its backslash continuations.
            j = i
            while j < n:
                e = src.find("\n", j)
                if e < 0:
                    e = n
                if e > j and src[e - 1] == "\\":
                    j = e + 1
                    continue
                break
            wipe(i, e)
            i = e
            continue
        if not c.isspace():
            line_start = False
        if src.startswith("//", i):
            e = src.find("\n", i)
            e = n if e < 0 else e
            wipe(i, e)
            i = e
        elif src.startswith("/*", i):
            e = src.find("*/", i + 2)
            e = n if e < 0 else e + 2
            wipe(i, e)
            i = e
        elif c == '"':
            prefix = re.search(r"(?<!\w)(?:u8|u|U|L)?R$", src[max(0, i - 4):i])
            if prefix:  # raw string: R"delim( ... )delim"
                open_paren = src.find("(", i + 1)
                delim = src[i + 1:open_paren] if open_paren >= 0 else ""
                close = src.find(")" + delim + '"', open_paren + 1) if open_paren >= 0 else -1
                e = n if close < 0 else close + len(delim) + 2
            else:
                e = i + 1
                while e < n and src[e] != '"' and src[e] != "\n":
                    e += 2 if src[e] == "\\" else 1
                e = min(e + 1, n)
            wipe(i + 1, e - 1)
            out[i] = '"'
            if e - 1 > i and src[e - 1] == '"':
                out[e - 1] = '"'
            i = e
        elif c == "'":
            # A digit separator (1'000'000) sits inside a number; anything else opens a literal.
            k = i
            while k > 0 and (src[k - 1].isalnum() or src[k - 1] in "_'."):
                k -= 1
            if k < i and src[k].isdigit():
                i += 1
                continue
            e = i + 1
            while e < n and src[e] != "'" and src[e] != "\n":
                e += 2 if src[e] == "\\" else 1
            e = min(e + 1, n)
            wipe(i, e)
            i = e
        else:
            i += 1
    return "".join(out)


# --- Heads: what the text before a '{' at namespace or class scope declares. -------------------

def skip_balanced(s, i, open_ch, close_ch):
    """s[i] is open_ch: returns the index just past its matching close_ch (or len(s))."""
    depth = 0
    while i < len(s):
        if s[i] == open_ch:
            depth += 1
        elif s[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(s)


def strip_template_prefix(head):
    """Drops leading `template <...>` clauses and [[attributes]]; returns (rest, offset)."""
    i = 0
    while True:
        m = re.match(r"\s*", head[i:])
        i += m.end()
        if head.startswith("[[", i):
            i = skip_balanced(head, i, "[", "]")
            continue
        m = re.match(r"template\s*<", head[i:])
        if m:
            j = i + m.end() - 1
            depth = 0
            while j < len(head):
                ch = head[j]
                if ch == "(":
                    j = skip_balanced(head, j, "(", ")")
                    continue
                if ch == "<":
                    depth += 1
                elif ch == ">":
                    depth -= 1
                    if depth == 0:
                        j += 1
                        break
                j += 1
            i = j
            continue
        return head[i:], i


NAME_RE = re.compile(
    r"(?P<name>(?:[A-Za-z_]\w*\s*(?:<[^;{}()]*?>)?\s*::\s*)*"
    r"(?:~\s*[A-Za-z_]\w*"
    r"|operator\s*(?:\(\s*\)|\[\s*\]|(?:new|delete)(?:\s*\[\s*\])?|\"\"\s*\w+|[^\w\s()]+|[A-Za-z_][\w\s:<>*&]*?)"
    r"|[A-Za-z_]\w*)"
    r"(?:\s*<[^;{}()]*>)?)\s*$")


def function_name(before):
    """The function name that `before` (the text up to a '(') ends with, or None."""
    m = NAME_RE.search(before)
    if not m:
        return None
    name = re.sub(r"\s+", " ", m.group("name").strip())
    name = re.sub(r"\s*(::|<|>|,|~|\(|\)|\[|\])\s*", r"\1", name)
    name = re.sub(r"\boperator (?=\W)", "operator", name)
    last = re.split(r"::", name)[-1]
    if last in NOT_NAMES or re.fullmatch(r"\d\w*", last):
        return None
    return name, m.start("name")


def valid_tail(tail):
    """Whether `tail`, the text after a parameter list, fits a function definition. Returns None
    if not, else whether a constructor's initializer list has begun (a ':')."""
    i = 0
    n = len(tail)
    while i < n:
        m = re.match(r"\s+|const\b|volatile\b|override\b|final\b|mutable\b|constexpr\b|consteval\b|"
                     r"try\b|&&|&", tail[i:])
        if m:
            i += m.end()
            continue
        if tail.startswith("noexcept", i):
            i += len("noexcept")
            j = i
            while j < n and tail[j].isspace():
                j += 1
            if j < n and tail[j] == "(":
                i = skip_balanced(tail, j, "(", ")")
            continue
        if tail.startswith("[[", i):
            i = skip_balanced(tail, i, "[", "]")
            continue
        if tail.startswith("->", i) or re.match(r"requires\b", tail[i:]):
            return False
        if tail[i] == ":" and not tail.startswith("::", i):
            return True
        return None
    return False


def paren_groups(head):
    """(start, end) of each parenthesis group at the top level of head (end just past ')')."""
    groups = []
    i = 0
    while i < len(head):
        if head[i] == "(":
            j = skip_balanced(head, i, "(", ")")
            groups.append((i, j))
            i = j
        elif head[i] == "{":
            i = skip_balanced(head, i, "{", "}")
        else:
            i += 1
    return groups


def classify(head):
    """What a '{' after `head` opens. Returns one of
    ("namespace", [names]), ("extern",), ("enum",), ("class", name or None, keyword offset),
    ("function", name, name offset, in_init_list), ("lambda", name, offset), ("init",)."""
    rest, off = strip_template_prefix(head)
    stripped = rest.strip()
    # `namespace` is a keyword: whatever precedes it (a macro call without a ';') is not part of it.
    m = re.search(r"(?:^|\W)(?:inline\s+)?namespace\b\s*([\w:\s]*)$", stripped)
    if m:
        names = [p for p in re.split(r"\s*::\s*", m.group(1).strip()) if p and p != "inline"]
        return ("namespace", names)
    if re.match(r'extern\s*"[^"]*"\s*$', stripped):
        return ("extern",)
    if re.match(r"(?:typedef\s+)?enum\b", stripped):
        return ("enum",)
    m = re.match(r"(?:typedef\s+)?(class|struct|union)\b", stripped)
    if m:
        body = stripped[m.end():]
        body = re.sub(r"\[\[.*?\]\]|alignas\s*\([^)]*\)|__attribute__\s*\(\(.*?\)\)", " ", body)
        # The name runs to the base clause's ':' (not '::'); nothing in it may look like a call.
        base = re.search(r"(?<!:):(?!:)", body)
        name_part = (body[:base.start()] if base else body).strip()
        name_part = re.sub(r"\bfinal\s*$", "", name_part).strip()
        if "(" not in name_part and "=" not in name_part and (
                name_part == "" or re.fullmatch(r"[A-Za-z_][\w:]*\s*(<.*>)?", name_part)):
            kw = off + (len(rest) - len(rest.lstrip())) + m.start(1)
            return ("class", re.sub(r"\s+", "", name_part) or None, kw)
    for start, end in paren_groups(rest):
        named = function_name(rest[:start])
        if not named:
            continue
        in_init = valid_tail(rest[end:])
        if in_init is None:
            continue
        return ("function", named[0], off + named[1], in_init)
    m = re.search(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*=\s*\[", rest)
    if m:
        return ("lambda", m.group(1), off + m.start(1))
    return ("init",)


# --- Scopes: walk the blanked text, recording classes and functions. -------------------------

class Scanner:
    def __init__(self, path, text):
        self.path = path
        self.s = blank(text)
        self.newlines = [i for i, ch in enumerate(self.s) if ch == "\n"]
        self.functions = []  # dicts: path, line, end, name, ns, qualifier, owner
        self.classes = []    # dicts: path, line, end, key, name

    def line(self, pos):
        return bisect.bisect_right(self.newlines, pos - 1) + 1

    def match_brace(self, i):
        """s[i] is '{': the index of its matching '}' (or the last index)."""
        depth = 0
        s = self.s
        while i < len(s):
            ch = s[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return len(s) - 1

    def scan(self):
        self.scope(0, "namespace", ns=[], cls=[])
        return self

    def scope(self, i, kind, ns, cls):
        """Scans declarations from i to the '}' that closes this scope; returns that index."""
        s = self.s
        head_start = i
        paren = 0
        while i < len(s):
            ch = s[i]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(0, paren - 1)
            elif ch == ";" and paren == 0:
                head_start = i + 1
            elif ch == "}":
                return i
            elif ch == ":" and kind == "class" and paren == 0 and \
                    re.fullmatch(r"\s*(public|private|protected)\s*", s[head_start:i]):
                head_start = i + 1
            elif ch == "{":
                if paren > 0:  # a braced default argument or initializer inside parentheses
                    i = self.match_brace(i) + 1
                    continue
                i, head_start = self.open_brace(i, head_start, kind, ns, cls)
                continue
            i += 1
        return len(s)

    def open_brace(self, i, head_start, kind, ns, cls):
        """Handles the '{' at i; returns (where to go on, where the next head starts)."""
        head = self.s[head_start:i]
        what = classify(head)
        if what[0] == "namespace":
            inner = ns + (what[1] or [anonymous_namespace(self.path)])
            end = self.scope(i + 1, "namespace", inner, cls)
            return end + 1, end + 1
        if what[0] == "extern":
            end = self.scope(i + 1, "namespace", ns, cls)
            return end + 1, end + 1
        if what[0] == "class":
            name = what[1] or "(anonymous at %s:%d)" % (self.path, self.line(i))
            name = re.sub(r"<.*>$", "", name)
            inner = cls + name.split("::")
            end = self.scope(i + 1, "class", ns, inner)
            self.classes.append({"path": self.path, "line": self.line(head_start + what[2]),
                                 "end": self.line(end), "key": tuple(ns + inner),
                                 "name": "::".join(inner)})
            return end + 1, head_start  # `} name;` still belongs to this declaration
        if what[0] in ("function", "lambda"):
            name = what[1]
            if what[0] == "function" and what[3]:
                before = head.rstrip()
                if before and (before[-1].isalnum() or before[-1] in "_>"):
                    return self.match_brace(i) + 1, head_start  # a member's braced initializer
            end = self.match_brace(i)
            qualifier = [re.sub(r"<.*>$", "", p) for p in name.split("::")[:-1]]
            if what[0] == "lambda":
                name += " (lambda)"
            self.functions.append({
                "path": self.path, "line": self.line(head_start + what[2]), "end": self.line(end),
                "name": "::".join(cls + [name]), "ns": ns, "qualifier": qualifier,
                "owner": tuple(ns + cls) if cls else None})
            return end + 1, end + 1
        # An enum body or a braced initializer: the declaration goes on to its ';'.
        return self.match_brace(i) + 1, head_start


# --- Measuring a tree. -------------------------------------------------------------------------

def measure(files):
    """files: {path: text}. Returns (functions, classes); each class gains "total" and "parts"
    ({path: lines}), out-of-line members included."""
    functions, classes = [], []
    for path in sorted(files):
        sc = Scanner(path, files[path]).scan()
        functions += sc.functions
        classes += sc.classes
    by_key = {}
    for c in classes:
        c["parts"] = {c["path"]: c["end"] - c["line"] + 1}
        by_key.setdefault(c["key"], c)  # a class defined twice (#if branches) counts once
        # A class in a file's anonymous namespace is also found from the enclosing namespace.
        alias = tuple(p for p in c["key"] if p != anonymous_namespace(c["path"]))
        if alias != c["key"]:
            by_key.setdefault((c["path"],) + alias, c)
    for f in functions:
        if f["owner"] is not None or not f["qualifier"]:
            continue
        key = resolve(by_key, f["ns"], f["qualifier"], f["path"])
        if key is None:
            continue
        key = by_key[key]["key"]
        lines = f["end"] - f["line"] + 1
        # The class and each class enclosing it (Outer::Inner::f counts for both).
        for k in range(len(key), 0, -1):
            owner = by_key.get(key[:k])
            if owner is None:
                break
            owner["parts"][f["path"]] = owner["parts"].get(f["path"], 0) + lines
    for c in classes:
        c["total"] = sum(c["parts"].values())
    return functions, classes


def anonymous_namespace(path):
    return "(anonymous namespace of %s)" % path


def resolve(by_key, ns, qualifier, path):
    """The key of the class `qualifier` names from namespace ns in file path, looked up as C++
    does: from the innermost namespace outwards."""
    for k in range(len(ns), -1, -1):
        key = tuple(ns[:k] + qualifier)
        if key in by_key:
            return key
        if (path,) + key in by_key:
            return (path,) + key
    return None


def violations(functions, classes, max_function, max_class):
    found = []
    for f in functions:
        lines = f["end"] - f["line"] + 1
        if lines > max_function:
            found.append((f["path"], f["line"], "function %s is %d lines (limit %d)"
                          % (f["name"], lines, max_function)))
    seen = set()
    for c in classes:
        if c["key"] in seen or c["total"] <= max_class:
            continue
        seen.add(c["key"])
        parts = sorted(c["parts"].items(), key=lambda kv: (kv[0] != c["path"], kv[0]))
        found.append((c["path"], c["line"], "class %s is %d lines (limit %d): %s"
                      % (c["name"], c["total"], max_class,
                         ", ".join("%s %d" % kv for kv in parts))))
    return sorted(found)


def read_tree(root, dirs):
    files = {}
    for d in dirs:
        top = os.path.join(root, d)
        if not os.path.isdir(top):
            print("code-shape: no directory %s" % top, file=sys.stderr)
            sys.exit(2)
        for dirpath, _, names in os.walk(top):
            for name in names:
                if name.endswith((".h", ".cc")):
                    full = os.path.join(dirpath, name)
                    with open(full, encoding="utf-8", errors="replace") as fh:
                        files[os.path.relpath(full, root)] = fh.read()
    return files


# --- Self-test: the tricky cases, pinned. -----------------------------------------------------

SELF_TEST_FILES = {
    "t/widget.h": r'''// A header: a class with inline members, a nested class, an enum.
#pragma once
#define OPEN_BRACE {
namespace ts::detail {
enum class Kind : int { kA, kB };
template <typename T>
class Widget final : public Base<T> {
 public:
  Widget(int a, int b) : Base<T>{a}, a_{a}, b_(b), f_{[] { return 1; }} {
    a_ += 1;
  }
  int Inline() const { return a_; }
  std::function<void()> cb_{};
  std::function<void(int)> Make(int x) { return {}; }
  struct Inner {
    void Decl();
  };
  void Decl(Options o = {});
 private:
  int a_{0};
  int b_ = 2;
};
}  // namespace ts::detail
SUITE_MACRO(name)
namespace ts {
inline int AfterMacro() { return 1; }
}
''',
    "t/widget.cc": r'''#include "t/widget.h"
namespace ts {
namespace detail {
namespace {
const auto kHelper = [](int x) {
  return x + 1;
};
int Free(int x) { return x; }
struct Local {
  void Run();
};
}  // namespace
void Local::Run() {
}
void Widget::Inner::Decl() {
  // a comment with a brace {
  const char* s = "a string with a brace {";
  char c = '{';
  int big = 1'000'000; if (big > 1'000) {
  }
  auto raw = R"x(a "raw string with } braces {{ )x";
  auto fn = [&](int y) {
    if (y) { return y; }
    return 0;
  };
}
template <typename T>
auto Widget<T>::Trailing() const noexcept -> std::string {
  return {};
}
Widget::~Widget() {
}
bool Widget::operator==(const Widget& o) const {
  return a_ == o.a_;
}
int Widget::operator()(int x) {
  return x;
}
void Widget::Decl(Options o) {
  Options copy = o;
  (void)copy;
}
}  // namespace detail
}  // namespace ts
extern "C" {
int c_entry(void) {
  return 0;
}
}
''',
}

# (path, name line, name, lines) of every function, and (name, total, parts) of every class.
SELF_TEST_FUNCTIONS = [
    ("t/widget.cc", 5, "kHelper (lambda)", 3),      # a lambda at namespace scope
    ("t/widget.cc", 8, "Free", 1),                  # in an anonymous namespace, on one line
    ("t/widget.cc", 13, "Local::Run", 2),           # outside the anonymous namespace of its class
    ("t/widget.cc", 15, "Widget::Inner::Decl", 12), # braces in a comment, literals, a lambda
    ("t/widget.cc", 28, "Widget<T>::Trailing", 3),  # template, name below `template <...>`
    ("t/widget.cc", 31, "Widget::~Widget", 2),
    ("t/widget.cc", 33, "Widget::operator==", 3),
    ("t/widget.cc", 36, "Widget::operator()", 3),
    ("t/widget.cc", 39, "Widget::Decl", 4),         # declared with a braced default argument
    ("t/widget.cc", 46, "c_entry", 3),              # in extern "C" { }
    ("t/widget.h", 9, "Widget::Widget", 3),         # initializer list with braces and a lambda
    ("t/widget.h", 12, "Widget::Inline", 1),
    ("t/widget.h", 14, "Widget::Make", 1),          # std::function<void(int)> return type
    ("t/widget.h", 26, "AfterMacro", 1),            # a macro call without ';' before namespace
]
SELF_TEST_CLASSES = [
    # Widget: lines 7-22 of the header (16), plus Inner::Decl 12, Trailing 3, ~Widget 2,
    # operator== 3, operator() 3, Decl 4 out of line. Inner::Decl counts for Inner as well.
    ("Widget", 16 + 12 + 3 + 2 + 3 + 3 + 4, {"t/widget.h": 16, "t/widget.cc": 27}),
    ("Widget::Inner", 3 + 12, {"t/widget.h": 3, "t/widget.cc": 12}),
    ("Local", 3 + 2, {"t/widget.cc": 5}),
]


def self_test():
    functions, classes = measure(SELF_TEST_FILES)
    got_f = sorted((f["path"], f["line"], f["name"], f["end"] - f["line"] + 1) for f in functions)
    got_c = sorted((c["name"], c["total"], c["parts"]) for c in classes)
    want_f = sorted(SELF_TEST_FUNCTIONS)
    want_c = sorted(SELF_TEST_CLASSES)
    ok = True
    if got_f != want_f:
        ok = False
        print("code-shape self-test: functions differ", file=sys.stderr)
        for row in sorted(set(want_f) - set(got_f)):
            print("  missing: %s:%d %s %d lines" % row, file=sys.stderr)
        for row in sorted(set(got_f) - set(want_f)):
            print("  unexpected: %s:%d %s %d lines" % row, file=sys.stderr)
    if got_c != want_c:
        ok = False
        print("code-shape self-test: classes differ\n  want %s\n  got  %s" % (want_c, got_c),
              file=sys.stderr)
    found = violations(functions, classes, 10, 30)
    want_v = [("t/widget.cc", 15, "function Widget::Inner::Decl is 12 lines (limit 10)"),
              ("t/widget.h", 7, "class Widget is 43 lines (limit 30): t/widget.h 16, t/widget.cc 27")]
    if found != want_v:
        ok = False
        print("code-shape self-test: violations differ\n  want %s\n  got  %s" % (want_v, found),
              file=sys.stderr)
    print("code-shape self-test: %s (%d functions, %d classes)"
          % ("ok" if ok else "FAILED", len(got_f), len(got_c)))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-function", type=int, default=80, metavar="N",
                    help="longest function allowed, in lines (default 80)")
    ap.add_argument("--max-class", type=int, default=500, metavar="M",
                    help="largest class allowed, in lines with its out-of-line members (default 500)")
    ap.add_argument("--dirs", nargs="+", default=DEFAULT_DIRS, metavar="DIR",
                    help="directories to scan, relative to the tree's top (default: %s)"
                    % " ".join(DEFAULT_DIRS))
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="the tree's top (default: this script's ../)")
    ap.add_argument("--self-test", action="store_true", help="check the scanner on embedded snippets")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    functions, classes = measure(read_tree(args.root, args.dirs))
    found = violations(functions, classes, args.max_function, args.max_class)
    for path, line, what in found:
        print("%s:%d: %s" % (path, line, what))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
