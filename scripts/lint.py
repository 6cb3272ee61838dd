#!/usr/bin/env python3
"""House rules that swift-format does not check (docs/testing.md, "Lint").

- No Swift file under Sources/ over FILE_LINES_MAX lines.
- No function, initializer or closure-free accessor over FUNCTION_LINES_MAX
  lines, unless the comment right above it says why, on a line starting
  with `// Long:`.

Exit 1 and one line per finding (path:line: what) when a rule is broken.
"""
import pathlib
import re
import sys

FILE_LINES_MAX = 400
FUNCTION_LINES_MAX = 70
DECLARATION = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|package|static|class|mutating|nonmutating|"
    r"override|final|nonisolated|consuming|borrowing|convenience|required)\s+)*(?:func\s|init[(<?]|deinit\b)")
STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def code_only(line: str) -> str:
    """The line without string literals and a trailing // comment."""
    line = STRING.sub('""', line)
    cut = line.find("//")
    return line if cut < 0 else line[:cut]


def long_reason_above(lines: list[str], index: int) -> bool:
    """Whether the comment block right above line `index` has `// Long:`."""
    i = index - 1
    while i >= 0 and (lines[i].strip().startswith("//") or lines[i].strip().startswith("@")):
        if lines[i].strip().startswith("// Long:"):
            return True
        i -= 1
    return False


def function_findings(path: pathlib.Path, lines: list[str]) -> list[str]:
    findings = []
    for start, line in enumerate(lines):
        if not DECLARATION.match(line):
            continue
        depth = 0
        opened = False
        end = None
        in_block_comment = False
        for i in range(start, len(lines)):
            text = code_only(lines[i])
            if "/*" in text:
                in_block_comment = True
            if in_block_comment:
                if "*/" in text:
                    in_block_comment = False
                continue
            for ch in text:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
            if opened and depth <= 0:
                end = i
                break
            if not opened and i > start and text.strip() == "":
                break  # a protocol requirement: no body
        if end is None:
            continue
        length = end - start + 1
        if length > FUNCTION_LINES_MAX and not long_reason_above(lines, start):
            name = line.strip().split("(")[0]
            findings.append(f"{path}:{start + 1}: {name} is {length} lines (limit {FUNCTION_LINES_MAX}; "
                            "split it, or say why above it with `// Long: …`)")
    return findings


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    findings = []
    for path in sorted((root / "Sources").rglob("*.swift")):
        lines = path.read_text().split("\n")
        relative = path.relative_to(root)
        if len(lines) - 1 > FILE_LINES_MAX:
            findings.append(f"{relative}:1: {len(lines) - 1} lines (limit {FILE_LINES_MAX}; split it by concept)")
        findings += function_findings(relative, lines)
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
