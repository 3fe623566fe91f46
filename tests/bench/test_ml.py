"""The ML benchmark names the code it measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.ml import git_commit


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def test_the_commit_is_marked_dirty_when_tracked_files_changed(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    (tmp_path / "measured.py").write_text("SIZE = 1\n")
    git(tmp_path, "add", "measured.py")
    git(tmp_path, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "--quiet", "-m", "one")
    git(tmp_path, "tag", "v1")  # a tag must not replace the hash
    head = git(tmp_path, "rev-parse", "--short=7", "HEAD")

    assert git_commit(tmp_path) == head
    (tmp_path / "untracked.txt").write_text("not measured code\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "measured.py").write_text("SIZE = 2\n")
    assert git_commit(tmp_path) == f"{head}-dirty"
