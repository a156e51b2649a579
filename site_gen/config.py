"""
---
title: Configuration
summary: The [tool.site_gen] table of pyproject.toml - site name, canonical base URL, repository links, sources and excludes.
---

# Configuration

A project says who its site is in `pyproject.toml`, next to everything else about it:

```toml
[tool.site_gen]
name = "labml_opt"                          # the site title (default: the home page's title)
base_url = "https://labml-opt.github.io/"   # canonical links; none when unset
repository = "https://github.com/org/repo"  # "view source" links to the exact line; none when unset
branch = "main"                             # the branch those links point into (default: main)
sources = ["labml_opt", "README.md"]        # what `site-gen build` renders when given nothing
exclude = ["labml_opt/experiments/logs/*"]  # paths (globs) that are never pages
remote_images = false                       # let prose show images from https URLs
```

The table is read from the nearest `pyproject.toml` at or above the root of the pages, and
every path in it (`sources`, `exclude`), like the paths of "view source" links, is relative to
that file's folder, whichever folder the pages' paths are relative to. A key we do not know is an error, so that
a typo does not silently change nothing.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from site_gen import SiteError

CONFIG_FILE = 'pyproject.toml'


@dataclass(frozen=True)
class Config:
    name: Optional[str] = None
    base_url: Optional[str] = None
    repository: Optional[str] = None
    branch: str = 'main'
    sources: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()
    remote_images: bool = False

    def source_url(self, path: str, first: Optional[int] = None, last: Optional[int] = None) -> Optional[str]:
        """The repository's web page of `path`, at lines `first` to `last` when given."""
        if not self.repository:
            return None
        url = f'{self.repository.rstrip("/")}/blob/{self.branch}/{path}'
        if first:
            url += f'#L{first}' + (f'-L{last}' if last and last != first else '')
        return url

    def canonical(self, page: str) -> Optional[str]:
        return self.base_url.rstrip('/') + '/' + page if self.base_url else None


# Each key and the kind of value it takes.
KEYS = {'name': str, 'base_url': str, 'repository': str, 'branch': str, 'sources': list, 'exclude': list,
        'remote_images': bool}
KIND_NAMES = {str: 'a string', list: 'a list of strings', bool: 'true or false'}


def load(root: Path) -> Config:
    """
    The `[tool.site_gen]` table of `root/pyproject.toml`, or the defaults when there is none.
    A problem is a `SiteError` naming the file (by the path it was found at) and the key's line.
    """
    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        return Config()
    try:
        table = tomllib.loads(path.read_text(encoding='utf-8')).get('tool', {}).get('site_gen', {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        line = re.search(r'at line (\d+)', str(e))
        raise SiteError(str(path), int(line.group(1)) if line else 1, f'cannot read it as TOML: {e}') from None
    values = {}
    for key, value in table.items():
        kind = KEYS.get(key)
        if kind is None:
            raise SiteError(str(path), line_of(path, key),
                            f'unknown key {key!r} in [tool.site_gen] (known: {", ".join(KEYS)})')
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            raise SiteError(str(path), line_of(path, key), f'[tool.site_gen] {key} must be {KIND_NAMES[kind]}')
        values[key] = tuple(value) if kind is list else value
    for key in ('base_url', 'repository'):
        if values.get(key) and not values[key].startswith('https://'):
            raise SiteError(str(path), line_of(path, key), f'[tool.site_gen] {key} must start with https://')
    return Config(**values)


def line_of(path: Path, key: str) -> int:
    """The line of `key = ...` in the file, for messages; 1 if it cannot be found."""
    lines: List[str] = path.read_text(encoding='utf-8').splitlines()
    return next((n for n, line in enumerate(lines, 1) if line.split('=')[0].strip() == key), 1)


def find(start: Path) -> Tuple[Config, Path]:
    """
    The configuration of the project that holds `start`: the nearest `pyproject.toml` at or
    above it, and that file's folder, to which "view source" paths are relative.
    """
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return load(folder), folder
    return Config(), start
