"""Rewrite citations of the former external spec to the model page in the repository.

"spec B.9" -> "docs/model.md B.9", "spec part d" -> "docs/model.md part D",
"../shared/spec/system-model.md" -> "docs/model.md"; the notes on the real LLM likewise:
"spec real-llm.md 1.5", "real-llm.md section 2", "../shared/spec/real-llm.md" -> "docs/real-llm.md ...".

usage: python docs/_tools/rewrite_citations.py comments|strings FILE...

* ``comments``: Python comments and docstrings, TOML comments, whole Markdown and shell files;
* ``strings``: the other Python string literals (printed text) and TOML string values (provenance notes).

tests/test_docs.py fails while an old citation is left in src/, tests/ or benchmarks/ and names the
files; rerun this script on them.
"""

from __future__ import annotations

import io
import pathlib
import re
import sys
import tokenize

PAT = re.compile(
    r"\b[Ss]pec (?:([A-E]\.\d+)|part ([a-e])\b)|(?:\.\./)?shared/spec/system-model\.md"
    r"|(?:(?:\.\./)?shared/spec/|(?:shared )?spec |(?<![\w/.(-]))real-llm\.md"
)
FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", -1)
SELF = ("rewrite_citations.py", "test_docs.py")
STATEMENT_START = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)


def rewrite(s: str) -> str:
    def sub(m: re.Match) -> str:
        if m.group(1):
            return f"docs/model.md {m.group(1)}"
        if m.group(2):
            return f"docs/model.md part {m.group(2).upper()}"
        return "docs/real-llm.md" if m.group(0).endswith("real-llm.md") else "docs/model.md"

    return PAT.sub(sub, s)


def python_spans(text: str, want: str) -> list[tuple[int, int]]:
    """Character spans of comments + docstrings (``want="comments"``) or of other string literals."""
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    spans, prev = [], tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        a = offsets[tok.start[0] - 1] + tok.start[1]
        b = offsets[tok.end[0] - 1] + tok.end[1]
        kind = None
        if tok.type == tokenize.COMMENT:
            kind = "comments"
        elif tok.type == tokenize.STRING:
            kind = "comments" if prev in STATEMENT_START else "strings"  # a docstring opens a statement
        elif tok.type in (FSTRING_START, FSTRING_MIDDLE):
            kind = "strings"
        if kind == want:
            spans.append((a, b))
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            prev = tok.type
    return spans


def toml_spans(text: str, want: str) -> list[tuple[int, int]]:
    """Character spans of comments or of everything else (keys and string values) of a TOML file."""
    spans, off = [], 0
    for line in text.splitlines(keepends=True):
        quote, cut = None, len(line)
        for k, ch in enumerate(line):
            if quote:
                quote = None if ch == quote else quote
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                cut = k
                break
        spans.append((off + cut, off + len(line)) if want == "comments" else (off, off + cut))
        off += len(line)
    return spans


def apply(text: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for a, b in sorted(spans):
        if a >= last:
            out += [text[last:a], rewrite(text[a:b])]
            last = b
    return "".join([*out, text[last:]])


def main(want: str, files: list[str]) -> None:
    for name in files:
        path = pathlib.Path(name)
        if path.name in SELF:  # these files spell out the old forms on purpose
            continue
        text = path.read_text()
        if name.endswith(".py"):
            new = apply(text, python_spans(text, want))
        elif name.endswith(".toml"):
            new = apply(text, toml_spans(text, want))
        else:
            new = rewrite(text) if want == "comments" else text
        if new != text:
            path.write_text(new)
            print(name, len(PAT.findall(text)) - len(PAT.findall(new)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
