"""Every code block of the README and the docs runs here, and shown output is checked.

Conventions (also in docs/index.md, "Code blocks in these pages"):

* ```` ```python ````: executed; the blocks of one page share one namespace, in page order.
* ```` ```bash ````: run by ``bash -euo pipefail`` with ``goalit`` on the PATH (this checkout's package).
* ```` ```console ````: ``$ command`` lines, each followed by the output it must print (stdout and stderr,
  trailing spaces ignored). ``...`` inside a line matches any text (timings, numbers that vary), a line
  that is only ``...`` matches any number of lines. The exit code must be 0, or N when the command
  ends with the comment ``# exit N``.
* ```` ```toml ```` and ```` ```json ````: must parse.
* ```` ```text ```` and untagged blocks: not run (formulas, layouts, synopses).
* ``<!-- skip: REASON -->`` on the line before a fence: the block is not run (a full run of minutes or
  hours, an install, a long-lived server); the reason is required and says where it is covered instead.

All blocks of one page run in order in one fresh temporary directory, so a block may use a file an
earlier block wrote. The file also checks that the code cites the model page (docs/model.md) by sections
that exist there, and no longer the former external spec.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
RUN = {"python", "bash", "console", "toml", "json"}
NOT_RUN = {"", "text"}
FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")
SKIP = re.compile(r"^<!--\s*skip:\s*(\S.*?)\s*-->$")
BLOCK_TIMEOUT_S = 300


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the reason, when marked <!-- skip: ... -->

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    out, k = [], 0
    while k < len(lines):
        m = FENCE.match(lines[k])
        if not m:
            k += 1
            continue
        fence, lang, start = m.group(1), m.group(2), k
        k += 1
        body = []
        while k < len(lines) and lines[k].strip() != fence:
            body.append(lines[k])
            k += 1
        k += 1
        prev = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP.match(prev)
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n", skip.group(1) if skip else None))
    return out


def _goalit_env(tmp: Path) -> dict[str, str]:
    """Environment in which ``goalit`` is this checkout's package, whatever is installed."""
    bindir = tmp / ".bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "goalit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m goalit "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "100"
    return env


def _bash(script: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp, env=_goalit_env(tmp), capture_output=True,
        text=True, timeout=BLOCK_TIMEOUT_S, stdin=subprocess.DEVNULL,
    )  # fmt: skip


SHELL_SYNTAX = {"|", "||", "&&", ";", "&", "<", ">>", "2>", "2>&1", "<<"}


def _plain_goalit(cmd: str) -> tuple[list[str], str | None] | None:
    """``(argv, stdout file)`` when ``cmd`` is ``goalit ARGS [> FILE]`` without other shell syntax."""
    if any(c in cmd for c in "$`*?~{"):
        return None
    try:
        words = shlex.split(cmd, comments=True)
    except ValueError:
        return None
    if (
        not words
        or words[0] != "goalit"
        or SHELL_SYNTAX & set(words)
        or any(w.startswith(">") and w != ">" for w in words)
    ):
        return None
    out = None
    if ">" in words:
        k = words.index(">")
        if k != len(words) - 2:
            return None
        out, words = words[-1], words[:k]
    return words[1:], out


def run_command(cmd: str, tmp: Path) -> tuple[int, str, str]:
    """Run one shell command in ``tmp``: exit code, stdout, stderr.

    A plain ``goalit ...`` command (optionally ``> FILE``) runs in this process through the console
    script's own entry point, ``goalit.cli.main(argv)``: the same code as the command, without a new
    interpreter and NumPy import per line (the doc test stays fast). Anything else runs in bash.
    """
    plain = _plain_goalit(cmd)
    if plain is None:
        proc = _bash(cmd + "\n", tmp)
        return proc.returncode, proc.stdout, proc.stderr
    from goalit.cli import main

    argv, out_file = plain
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if out_file is not None:
        (tmp / out_file).write_text(out.getvalue())
        return code, "", err.getvalue()
    return code, out.getvalue(), err.getvalue()


def script_commands(script: str) -> list[str]:
    """Split a bash block into commands: each plain ``goalit`` line alone, other lines in runs
    (heredocs and continuation lines kept whole)."""
    chunks: list[str] = []
    shell: list[str] = []
    lines = script.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        while line.endswith("\\") and k + 1 < len(lines):
            k += 1
            line = line[:-1] + lines[k]
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if heredoc:
            body = [line]
            while k + 1 < len(lines):
                k += 1
                body.append(lines[k])
                if lines[k].strip() == heredoc.group(1):
                    break
            shell.append("\n".join(body))
        elif _plain_goalit(line) is not None:
            if shell:
                chunks.append("\n".join(shell))
                shell = []
            chunks.append(line)
        elif line.strip():
            shell.append(line)
        k += 1
    if shell:
        chunks.append("\n".join(shell))
    return chunks


def console_steps(code: str) -> list[tuple[str, list[str], int]]:
    """(command, expected output lines, expected exit code) for each ``$ `` line of a console block."""
    steps: list[tuple[str, list[str], int]] = []
    lines = code.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        if not line.startswith("$ "):
            raise AssertionError(f"console block: output before the first '$ ' line: {line!r}")
        cmd = line[2:]
        while cmd.endswith("\\") and k + 1 < len(lines):
            k += 1
            cmd = cmd[:-1] + "\n" + lines[k]
        k += 1
        expected = []
        while k < len(lines) and not lines[k].startswith("$ "):
            expected.append(lines[k])
            k += 1
        code_m = re.search(r"#\s*exit\s+(\d+)\s*$", cmd)
        steps.append((cmd, expected, int(code_m.group(1)) if code_m else 0))
    return steps


def output_pattern(expected: list[str]) -> re.Pattern:
    parts = []
    for line in _normalise(expected):
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(re.escape(line).replace(re.escape("..."), r"[^\n]*?") + r"\n")
    return re.compile("".join(parts))


def _normalise(lines: list[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def run_block(block: Block, tmp: Path, namespace: dict) -> None:
    if block.lang == "python":
        code = compile(block.code, block.where(), "exec")
        exec(code, namespace)  # noqa: S102 (documentation examples, executed on purpose)
    elif block.lang == "toml":
        tomllib.loads(block.code)
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "bash":
        for cmd in script_commands(block.code):
            code, out, err = run_command(cmd, tmp)
            assert code == 0, f"{block.where()}: `{cmd}` exit {code}\n{out}\n{err}"
    elif block.lang == "console":
        for cmd, expected, want in console_steps(block.code):
            code, out, err = run_command(cmd, tmp)
            got = out + err
            assert code == want, f"{block.where()}: `{cmd}` exit {code}, not {want}\n{got}"
            actual = "".join(line + "\n" for line in _normalise(got.splitlines()))
            assert output_pattern(expected).fullmatch(actual), (
                f"{block.where()}: `{cmd}` printed\n{actual}\nwhich does not match the page:\n"
                + "\n".join(expected)
            )


def _runnable_pages() -> list[Path]:
    return [p for p in PAGES if any(b.lang in RUN and b.skip is None for b in blocks_of(p))]


def test_every_block_has_a_known_language_and_skips_give_a_reason() -> None:
    for page in PAGES:
        for block in blocks_of(page):
            assert block.lang in RUN | NOT_RUN, f"{block.where()}: unknown block language {block.lang!r}"
            assert block.skip is None or block.lang in RUN, (
                f"{block.where()}: skip marker on a block never run"
            )


@pytest.mark.parametrize("page", _runnable_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    from goalit.sim import policies

    # a real module, so that dataclasses and pickling find the classes a page defines
    module = types.ModuleType("goalit_docs_page")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    registered = dict(policies.POLICIES)  # pages register example policies: leave no trace for later tests
    try:
        for block in blocks_of(page):
            if block.lang in RUN and block.skip is None:
                run_block(block, tmp_path, module.__dict__)
    finally:
        policies.POLICIES.clear()
        policies.POLICIES.update(registered)


def test_console_blocks_compare_output_with_ellipsis() -> None:
    pattern = output_pattern(["a ... b", "...", "end"])
    assert pattern.fullmatch("a 1.5 s b\nx\ny\nend\n")
    assert pattern.fullmatch("a  b\nend\n")
    assert not pattern.fullmatch("a 1 b\nend\nmore\n")
    assert not output_pattern(["3 users"]).fullmatch("4 users\n")
    assert script_commands("goalit a > f.toml\ncat > t <<'EOF'\ngoalit b\nEOF\nls \\\n  -l\ngoalit c | head") == [
        "goalit a > f.toml", "cat > t <<'EOF'\ngoalit b\nEOF\nls   -l\ngoalit c | head",
    ]  # fmt: skip
    assert _plain_goalit("goalit solve small --seed 1  # note") == (["solve", "small", "--seed", "1"], None)
    assert _plain_goalit("goalit scenario show small --toml > my.toml") == (
        ["scenario", "show", "small", "--toml"],
        "my.toml",
    )
    assert _plain_goalit("goalit solve x 2>&1") is None and _plain_goalit("goalit solve $X") is None
    assert console_steps("$ goalit x  # exit 2\nerr\n$ ls\n") == [
        ("goalit x  # exit 2", ["err"], 2),
        ("ls", [], 0),
    ]


# ---- the model page is the one the code cites -------------------------------------------------------

OLD_CITATION = re.compile(
    r"\b[Ss]pec (?:[A-E]\.\d+|part [a-e]\b)|shared/spec/(?:system-model|real-llm)\.md|(?<![\w/.(-])real-llm\.md"
)
CITATION = re.compile(r"docs/model\.md (?:([A-E])\.(\d+)|part ([A-E]))")
REAL_LLM_CITATION = re.compile(r"docs/real-llm\.md (?:section )?(\d)(?:\.(\d))?")
CITING = ("src", "tests", "benchmarks", "examples")


def _citing_files() -> list[Path]:
    files = [p for d in CITING for p in (ROOT / d).rglob("*") if p.suffix in {".py", ".toml", ".md"}]
    files = [p for p in files if p.is_file() and p.name != "test_docs.py"]
    return [*files, ROOT / "README.md", *(ROOT / "docs").glob("*.md")]


def test_code_cites_the_model_page_not_the_external_spec() -> None:
    old = sorted({str(p.relative_to(ROOT)) for p in _citing_files() if OLD_CITATION.search(p.read_text())})
    assert not old, f"citations of the former spec; run docs/_tools/rewrite_citations.py on: {' '.join(old)}"


def test_cited_model_sections_exist() -> None:
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', (ROOT / "docs" / "model.md").read_text()))
    assert {"b9", "c5", "part-d", "e1", "references"} <= anchors
    missing = set()
    for path in _citing_files():
        for m in CITATION.finditer(path.read_text()):
            anchor = f"{m.group(1).lower()}{m.group(2)}" if m.group(1) else f"part-{m.group(3).lower()}"
            if anchor not in anchors:
                missing.add(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not missing, f"sections not in docs/model.md: {sorted(missing)}"


def test_cited_real_llm_sections_exist() -> None:
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', (ROOT / "docs" / "real-llm.md").read_text()))
    assert {"s1-3", "s1-5", "s2"} <= anchors
    missing = set()
    for path in [*_citing_files(), ROOT / "dev", ROOT / "scripts" / "install-llama-server"]:
        for m in REAL_LLM_CITATION.finditer(path.read_text()):
            anchor = f"s{m.group(1)}" + (f"-{m.group(2)}" if m.group(2) else "")
            if anchor not in anchors:
                missing.add(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not missing, f"sections not in docs/real-llm.md: {sorted(missing)}"


def test_readme_links_resolve() -> None:
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), f"README.md links to a missing file: {target}"
