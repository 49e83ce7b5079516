"""Find literals that look like credentials in manifests, docs and build files.

Secrets reach the cluster only through Secrets (generated from untracked env files, or
created by hand); what is committed may hold placeholders (``change-me``, ``<...>``) and
references (``$(VAR)``, ``${VAR}``, ``secretKeyRef``), nothing else. Three rules:

- well-known credential formats anywhere (cloud keys, private keys, tokens, MinIO's
  default ``minioadmin``, passwords inside URLs);
- an assignment to a secret-sounding name (``PASSWORD=...``, ``token: ...``) whose value is
  not a placeholder or a reference;
- long random-looking strings (high entropy), wherever they appear.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SCANNED_SUFFIXES: frozenset[str] = frozenset(
    {".yaml", ".yml", ".json", ".md", ".example", ".properties", ".sh", ".txt", ".toml"}
)
"""File types read. Real ``*.env`` files are git-ignored secrets by design and not read."""
SCANNED_NAMES: frozenset[str] = frozenset({"Dockerfile", "Makefile"})
SKIPPED_DIRS: frozenset[str] = frozenset({"schemas", ".git", "__pycache__", "node_modules"})

_KNOWN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")),
    ("MinIO default credentials", re.compile(r"\bminioadmin\b", re.IGNORECASE)),
)
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@", re.IGNORECASE)
_BEARER = re.compile(r"\bBearer\s+([A-Za-z0-9._~+/=-]{12,})")

_SECRET_NAME = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)"
)
# name (=|:) value, on one line: env files, YAML, shell, Makefiles
_ASSIGNMENT = re.compile(r"""^[\s>#*-]*["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[:=]\s*(.*)$""")
# Names that refer to a secret rather than hold one.
_REFERENCE_NAME = re.compile(r"(?i)(ref|name|names|selector|file|path|generator|keyref)$")

_PLACEHOLDER = re.compile(
    r"""(?ix)^(
        |change-?me.*|changeme.*|replace-?me.*|<[^>]*>|\$\(.*\)|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*
        |x{3,}|\*{3,}|\.\.\.|none|null|~|true|false|\{\}|\[\]|\|-?|>-?
        |"[^"]*\$[({][^"]*"|'[^']*\$[({][^']*'
    )$"""
)
_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
_DIGEST_PREFIXES = ("sha256:", "sha512:", "sha1:")  # image digests and checksums are public


@dataclass(frozen=True)
class Finding:
    """One literal that looks like a credential."""

    path: str
    """File it was found in."""
    line: int
    """1-based line number."""
    reason: str
    """Why it looks like a credential."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def shannon_entropy(text: str) -> float:
    """Bits per character of a string (random base64 is ~6, English words ~3-4)."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _is_placeholder(value: str) -> bool:
    value = value.strip().rstrip(",")
    value = re.sub(r"\s+#.*$", "", value).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return bool(_PLACEHOLDER.match(value))


def _looks_random(token: str) -> bool:
    # Paths and dashed names repeat few characters; keys use many, evenly.
    if token.count("/") > 2:
        return False
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    return has_digit and has_alpha and shannon_entropy(token) >= 4.2


def _random_strings(line: str) -> Iterator[str]:
    for match in _TOKEN.finditer(line):
        if _looks_random(match.group(0)):
            yield match.group(0)
    for match in _HEX.finditer(line):
        before = line[: match.start()]
        # Hex has at most 4 bits a character; 3.5 separates keys from runs like "00ff00ff".
        if not before.endswith(_DIGEST_PREFIXES) and shannon_entropy(match.group(0)) >= 3.5:
            yield match.group(0)


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    """Findings in one text."""
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for label, pattern in _KNOWN_FORMATS:
            if pattern.search(line):
                findings.append(Finding(path, number, f"{label}"))
        for match in _URL_PASSWORD.finditer(line):
            if not _is_placeholder(match.group(1)):
                findings.append(Finding(path, number, "password inside a URL"))
        for match in _BEARER.finditer(line):
            if not _is_placeholder(match.group(1)):
                findings.append(Finding(path, number, "literal bearer token"))
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            name, value = assignment.groups()
            if (
                _SECRET_NAME.search(name)
                and not _REFERENCE_NAME.search(name)
                and not _is_placeholder(value)
                and not value.lstrip().startswith("#")  # a Makefile rule's "## help" text
            ):
                findings.append(Finding(path, number, f"value assigned to {name!r}"))
        for token in _random_strings(line):
            findings.append(Finding(path, number, f"random-looking string {token[:6]}..."))
    return findings


def files_to_scan(roots: Iterable[Path]) -> Iterator[Path]:
    """Text files under the roots that the scan reads (schemas and the like are skipped)."""
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            if not path.is_file() or SKIPPED_DIRS.intersection(path.parts):
                continue
            if path.suffix in SCANNED_SUFFIXES or path.name in SCANNED_NAMES:
                yield path


def scan_paths(roots: Iterable[Path]) -> list[Finding]:
    """Findings in every scanned file under the roots (missing roots are skipped)."""
    findings: list[Finding] = []
    for path in files_to_scan(r for r in roots if r.exists()):
        findings.extend(scan_text(path.read_text(errors="replace"), str(path)))
    return findings
