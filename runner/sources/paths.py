"""Local paths named by campaign files must stay inside the repository (symlinks included)."""

from __future__ import annotations

from pathlib import Path


class PathProblem(Exception):
    """A local path written in a campaign or address book cannot be used (the message says why)."""


class OutsideRepository(PathProblem):
    pass


def resolve_inside(base_dir: Path, name: str, repo_root: Path) -> Path:
    """``base_dir / name`` with symlinks resolved; raise :class:`OutsideRepository` if it leaves
    ``repo_root``, :class:`PathProblem` if it cannot be a file name at all (NUL byte, too long, symlink
    loop)."""
    if "\x00" in name:
        raise PathProblem(f"{name!r} is not a usable file name: it contains a NUL character")
    try:
        target = (base_dir / name).resolve()
        root = repo_root.resolve()
    except RuntimeError:  # Python 3.11 reports symlink loops this way
        raise PathProblem(f"{name!r} is not a usable file name: symbolic link loop") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PathProblem(f"{name!r} is not a usable file name: {reason}") from None
    if target != root and root not in target.parents:
        raise OutsideRepository(f"{name!r} is outside the repository ({root}); local files must stay inside it")
    return target
