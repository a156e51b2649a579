"""
---
title: Paths
summary: The path rules every stage shares - relative paths normalised, links between pages, and what is really in the tree.
---

# Paths

Every stage handles paths relative to the root of the pages (sources, includes, images, pages),
and the manifest, which a pull request can change, carries them too. The rules they share live
here, in a module that imports nothing of ours, so that a build with nothing to render needs
neither Markdown nor the rest of [render](render.html).
"""

from pathlib import Path
from typing import List, Optional


def normalise(path: Optional[str]) -> Optional[str]:
    """`a/b/../c` to `a/c`; `None` when the path climbs out of the root."""
    parts: List[str] = []
    for part in (path or '').split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return '/'.join(parts)


def relative_url(here: str, target: str) -> str:
    """The URL of output path `target` as seen from output path `here`."""
    base = here.split('/')[:-1]
    parts = target.split('/')
    common = 0
    while common < len(base) and common < len(parts) - 1 and base[common] == parts[common]:
        common += 1
    return '/'.join(['..'] * (len(base) - common) + parts[common:])


def within(root: Path, path: Path) -> bool:
    """
    Whether `path` really is in the tree under `root`: a symbolic link in a pull request must not
    copy `~/.ssh/id_rsa` into the site as an image, or include it as Markdown.
    """
    return root.resolve() in path.resolve().parents
