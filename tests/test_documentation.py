"""What the README and .env.example say about the settings agrees with `analytics_settings`, and the docs
link only inside the repository (or to the services it starts on loopback)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from analytics_settings import REPO_ROOT, Settings, load_settings

ENV_LINE = re.compile(r"^(#\s*)?(ANALYTICS_[A-Z0-9_]+)=(.*)$")
TABLE_ROW = re.compile(r"^\| (`ANALYTICS_[^|]*) \| ([^|]*) \|")
LITERAL = re.compile(r"^`([^`]*)`$")
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")
SETTINGS = {f"ANALYTICS_{name.upper()}": name for name in Settings.model_fields}


def env_example() -> dict[str, tuple[bool, str]]:
    """Each variable of .env.example: (whether its line is active, its value)."""
    found: dict[str, tuple[bool, str]] = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if match := ENV_LINE.match(line):
            assert match[2] not in found, f"{match[2]} is listed twice in .env.example"
            found[match[2]] = (match[1] is None, match[3])
    return found


def readme_table() -> dict[str, str | None]:
    """Each variable of the README's configuration table and its default when the cell is one literal.

    A row may name several variables as `ANALYTICS_SPARK_DRIVER_MEMORY` / `_EXECUTOR_MEMORY`: the later ones
    replace the end of the first one's name, and their defaults are listed in the same order."""
    found: dict[str, str | None] = {}
    for line in (REPO_ROOT / "README.md").read_text().splitlines():
        if not (match := TABLE_ROW.match(line)):
            continue
        names = [name.strip().strip("`") for name in match[1].split(" / ")]
        cells = [cell.strip() for cell in match[2].split(" / ")]
        defaults = [literal[1] if (literal := LITERAL.match(cell)) else None for cell in cells]
        if len(defaults) != len(names):
            defaults = [None] * len(names)
        first = names[0]
        parts = first.split("_")
        found[first] = defaults[0]
        for suffix, default in zip(names[1:], defaults[1:], strict=True):
            candidates = ["_".join(parts[:k]) + suffix for k in range(len(parts) - 1, 0, -1)]
            found[next((name for name in candidates if name in SETTINGS), first + suffix)] = default
    return found


def parses_to_default(variable: str, value: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """The setting read from ``variable=value`` alone, and its default (relative paths: from the checkout)."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    field = SETTINGS[variable]
    default = getattr(load_settings(), field)
    monkeypatch.setenv(variable, value)
    parsed = getattr(load_settings(), field)
    if isinstance(parsed, Path) and not parsed.is_absolute():
        parsed = REPO_ROOT / parsed
    return parsed, default


def test_env_example_lists_every_setting_and_nothing_else():
    listed = env_example()
    assert sorted(set(SETTINGS) - set(listed)) == [], "settings missing from .env.example"
    assert sorted(set(listed) - set(SETTINGS)) == [], ".env.example lists variables no setting reads"


def test_env_example_active_lines_are_the_defaults(monkeypatch: pytest.MonkeyPatch):
    """Copying .env.example to .env changes nothing; secrets and settings without a default are commented."""
    for variable, (active, value) in env_example().items():
        if active:
            parsed, default = parses_to_default(variable, value, monkeypatch)
            assert parsed == default, f".env.example has {variable}={value}; the default is {default!r}"


def test_readme_table_lists_every_setting_with_its_default(monkeypatch: pytest.MonkeyPatch):
    table = readme_table()
    assert sorted(set(SETTINGS) - set(table)) == [], "settings missing from the README's configuration table"
    assert sorted(set(table) - set(SETTINGS)) == [], "the README's table lists variables no setting reads"
    compared = 0
    for variable, value in table.items():
        if value is not None and getattr(load_settings(), SETTINGS[variable]) is not None:
            parsed, default = parses_to_default(variable, value, monkeypatch)
            assert parsed == default, f"the README says {variable} defaults to {value}; it is {default!r}"
            compared += 1
    assert compared >= 20


def test_docs_link_only_inside_the_repository():
    documents = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO_ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
    outside = []
    for document in documents:
        path = REPO_ROOT / document
        for match in LINK.finditer(path.read_text()):
            target = match[1] or match[2]
            if LOOPBACK.match(target):
                continue
            local = target.split("#")[0]
            if "://" in target or (local and not (path.parent / local).exists()):
                outside.append(f"{document}: {target}")
    assert outside == []
