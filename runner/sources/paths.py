"""Local paths named by campaign files must stay inside the repository (symlinks included)."""

from __future__ import annotations

from pathlib import Path


class OutsideRepository(Exception):
    pass


def resolve_inside(base_dir: Path, name: str, repo_root: Path) -> Path:
    """``base_dir / name`` with symlinks resolved; raise :class:`OutsideRepository` if it leaves
    ``repo_root``."""
    target = (base_dir / name).resolve()
    root = repo_root.resolve()
    if target != root and root not in target.parents:
        raise OutsideRepository(f"{name!r} is outside the repository ({root}); local files must stay inside it")
    return target
