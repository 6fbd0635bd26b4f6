"""Every relative link in the repository's Markdown (and in dbt `{% docs %}` blocks) resolves
to a file or directory inside the repository, and no file points outside it.

Scanned: every *.md file outside generated or installed trees (dbt_packages, target*,
.venv, logs, ...), every `{% docs %}` block wherever dbt may read one (.md files under the
project), and, for paths outside the repository, every text file the project ships.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

CHECKER = Path(__file__).resolve()
REPO = CHECKER.parents[3]
SKIPPED_DIRS = {".git", ".venv", "dbt_packages", "logs", "node_modules", ".test", ".spark"}
SKIPPED_PREFIXES = ("target", ".pytest_cache", ".ruff_cache", ".mypy_cache", "__pycache__")
TEXT_SUFFIXES = {
    ".md", ".py", ".sql", ".yml", ".yaml", ".toml", ".sh", ".cfg", ".txt", ".json", ".csv",
}  # fmt: skip
TEXT_NAMES = {"Makefile", ".sqlfluff", ".sqlfluffignore", ".gitignore", "run"}

# [text](target "title"), ![alt](target), <a href="target">, [label]: target
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
DOCS_BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.DOTALL)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)
# A repository path mentioned in prose or comments: docs/decisions/0002-rfm-tie-rule.md
PATH_MENTION = re.compile(
    r"(?<![\w./-])((?:\.\./|\./)*"
    r"(?:docs|models|macros|segments|seeds|snapshots|tests|scripts|audiences|reverse_etl"
    r"|benchmarks|\.github|\.ci)/[\w./-]*\w\.(?:md|ya?ml|sql|py|csv|sh|json))"
)
# Mentions of files that do not exist, in files other engineers own: to be fixed there
# (remove the entry with the fix). Anything not listed here fails the test.
KNOWN_BROKEN_MENTIONS = {
    ("reverse_etl/identifiers.py", "docs/reference/destination-apis.md"),
}
# The sibling directory of design notes, and absolute paths into the repository's parent.
# Built from parts so that this file does not itself name a missing page.
MISSING_PAGE = "docs/" + "no-such-page.md"
OUTSIDE = [
    re.escape(".." + "/shared"),
    re.escape(str(REPO.parent) + "/"),
    # the design notes and reference pages that live beside the repository, not in it
    r"\b" + "DESIGN" + r"\.md\b",
    r"\b" + "realism" + r"\.md\b",
    re.escape("shared" + "/reference"),
]


@dataclass(frozen=True)
class Link:
    file: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}: {self.target}"


def repository_files() -> list[Path]:
    """The files git would commit: tracked, plus untracked ones .gitignore does not exclude
    (caches, build output and virtual environments are never scanned)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 0:
        names = [name for name in listed.stdout.split("\0") if name]
        return sorted(p for p in (REPO / name for name in names) if p.is_file())
    files = []
    for root, dirs, names in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(SKIPPED_PREFIXES)]
        files += [Path(root) / name for name in names]
    return sorted(files)


def markdown_files() -> list[Path]:
    return [p for p in repository_files() if p.suffix == ".md"]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _prose(text: str) -> str:
    """The text with code fences and inline code blanked (same length, so offsets hold)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return INLINE_CODE.sub(blank, FENCE.sub(blank, text))


def links_in(path: Path, text: str, offset: int = 0) -> list[Link]:
    prose = _prose(text)
    links = []
    for pattern in (INLINE_LINK, HTML_LINK, REFERENCE_LINK):
        for match in pattern.finditer(prose):
            target = match.group(1).strip()
            if target and not EXTERNAL.match(target) and "{{" not in target:
                links.append(Link(path, _line(text, match.start()) + offset, target))
    return links


def all_links() -> list[Link]:
    links = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        links += links_in(path, text)
    return links


def docs_blocks() -> list[tuple[Path, str, int, str]]:
    """(file, block name, lines before the body, body) of every dbt docs block in the repository."""
    blocks = []
    for path in repository_files():
        if path.suffix not in {".md", ".sql", ".yml", ".yaml"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        blocks += [
            (path, m.group(1), _line(text, m.start(2)) - 1, m.group(2))
            for m in DOCS_BLOCK.finditer(text)
        ]
    return blocks


def resolves(link: Link) -> bool:
    """The link's path (without #fragment or ?query) is a file or directory in the repo.
    A leading / is the repository root, as GitHub renders it."""
    path = unquote(link.target.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return True
    base = REPO if path.startswith("/") else link.file.parent
    resolved = (base / path.lstrip("/")).resolve()
    return resolved.is_relative_to(REPO) and resolved.exists()


def text_files() -> list[Path]:
    return [p for p in repository_files() if p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES]


def broken_path_mentions() -> list[tuple[str, int, str]]:
    """(file, line, path) of repository paths named in any text file that exist neither
    from the repository root nor from the file's directory."""
    found = []
    for path in text_files():
        if path == CHECKER:  # its examples and known-broken list name missing paths on purpose
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in PATH_MENTION.finditer(text):
            mentioned = match.group(1)
            if not ((REPO / mentioned).exists() or (path.parent / mentioned).exists()):
                found.append((str(path.relative_to(REPO)), _line(text, match.start()), mentioned))
    return found


def outside_mentions() -> list[str]:
    found = []
    pattern = re.compile("|".join(OUTSIDE))
    for path in text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in pattern.finditer(text):
            found.append(f"{path.relative_to(REPO)}:{_line(text, match.start())}: {match.group(0)}")
    return found


def test_the_scan_sees_the_documentation() -> None:
    names = {str(p.relative_to(REPO)) for p in markdown_files()}
    assert {"README.md", "docs/engines.md"} <= names
    assert not any(n.startswith(("dbt_packages/", ".venv/", "target")) for n in names)
    assert docs_blocks(), "no {% docs %} block found: the scan is looking in the wrong place"
    assert any(link.target.startswith("docs/") for link in all_links())


def test_relative_links_resolve() -> None:
    broken = [str(link) for link in all_links() if not resolves(link)]
    assert not broken, "relative links to files that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("markdown", "target", "ok"),
    [
        ("[x](docs/engines.md)", "docs/engines.md", True),
        ("[x](docs/engines.md#postgresql)", "docs/engines.md#postgresql", True),
        ("[x](/docs/engines.md)", "/docs/engines.md", True),
        (f"[x]({MISSING_PAGE})", MISSING_PAGE, False),
        ("[x](../outside.md)", "../outside.md", False),
        (f'<a href="{MISSING_PAGE}">x</a>', MISSING_PAGE, False),
        ("[x]: docs/decisions", "docs/decisions", True),
    ],
)
def test_link_checker_on_known_links(markdown: str, target: str, ok: bool) -> None:
    links = links_in(REPO / "README.md", markdown)
    assert [link.target for link in links] == [target]
    assert resolves(links[0]) is ok


def test_links_in_code_and_external_links_are_not_checked() -> None:
    text = "`[x](nope.md)`\n```\n[y](nope.md)\n```\n[z](https://example.com) [w](#top)\n"
    assert links_in(REPO / "README.md", text) == []


def test_docs_blocks_links_resolve() -> None:
    broken = []
    for path, name, offset, body in docs_blocks():
        links = links_in(path, body, offset)
        broken += [f"{link} (docs block {name})" for link in links if not resolves(link)]
    assert not broken, "docs blocks with broken relative links:\n" + "\n".join(broken)


def test_paths_mentioned_in_docs_and_code_exist() -> None:
    broken = [
        f"{file}:{line}: {mentioned}"
        for file, line, mentioned in broken_path_mentions()
        if (file, mentioned) not in KNOWN_BROKEN_MENTIONS
    ]
    assert not broken, "files that name repository paths that do not exist:\n" + "\n".join(broken)


def test_path_mentions_are_found() -> None:
    text = f"See {MISSING_PAGE} and docs/engines.md, not mydocs/x.md."
    assert [m.group(1) for m in PATH_MENTION.finditer(text)] == [MISSING_PAGE, "docs/engines.md"]


def test_no_file_points_outside_the_repository() -> None:
    found = outside_mentions()
    assert not found, "files that mention paths outside the repository:\n" + "\n".join(found)
