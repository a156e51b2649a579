"""
---
title: The cache
summary: What a build may reuse from earlier builds: pages from the untrusted manifest, formulas from a local store.
---

# Cache

A build reuses two kinds of earlier work, and this module is the only place that decides what
may be reused.

* **Pages**, through `manifest.json` in the output folder: for every page, the hashes of what
  it was built from, what the navigation needs, and the hash of the page it wrote. The manifest
  is committed with the site, so a pull request can change it: it is read as untrusted input,
  and an entry whose paths are not plain relative paths is dropped (those pages are rendered
  again). It holds no HTML, so a tampered manifest can make a build do more work, never put
  something on a page.
* **Formulas**, in a SQLite file in the user's cache folder (`$SITE_GEN_CACHE`, else
  `$XDG_CACHE_HOME/site_gen`, else `~/.cache/site_gen`), keyed by the math engine and the TeX
  as written (and the numbers of the equations it refers to, if any). MathJax takes about 2 ms a formula, so a page whose prose changed, or `check`
  building into an empty folder, typesets only the formulas it has not seen before. It is
  never committed; deleting it only costs time.
"""

import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

from site_gen.paths import normalise, within

MANIFEST = 'manifest.json'


def folder() -> Path:
    explicit = os.environ.get('SITE_GEN_CACHE')
    if explicit:
        return Path(explicit)
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'site_gen'


class Formulas:
    """
    Typeset formulas by `(engine, key)`: the key is the formula's TeX as written, with the
    labels it refers to in other formulas when it has any (see [typeset](typeset.html)); the
    value an HTML string, an error message or `None`, and the labels the formula numbers. If the
    cache folder cannot be written, the store lives in memory for this build only. It is opened
    on first use: a build that typesets nothing does not open it.
    """

    COLUMNS = ('engine', 'tex', 'html', 'error', 'labels')

    def __init__(self, engine: str, location: Optional[Path] = None):
        self.engine = engine
        self.location = location
        self.connection: Optional[sqlite3.Connection] = None

    @property
    def db(self) -> sqlite3.Connection:
        if self.connection is None:
            location = self.location or folder()
            try:
                location.mkdir(parents=True, exist_ok=True)
                self.connection = self.open(str(location / 'formulas.sqlite'))
            except (OSError, sqlite3.Error):
                self.connection = self.open(':memory:')
        return self.connection

    def open(self, name: str) -> sqlite3.Connection:
        db = sqlite3.connect(name, timeout=30)
        # A store written by an older generator, with other columns, is only a cache: it goes.
        if tuple(row[1] for row in db.execute('PRAGMA table_info(formula)')) not in ((), self.COLUMNS):
            db.execute('DROP TABLE formula')
        db.execute('CREATE TABLE IF NOT EXISTS formula (engine TEXT, tex TEXT, html TEXT, error TEXT, labels TEXT, '
                   'PRIMARY KEY (engine, tex))')
        return db

    def get(self, keys: Iterable[str]) -> Dict[str, Tuple[str, Optional[str], dict]]:
        keys = list(keys)
        found = {}
        if not keys:
            return found
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f'SELECT tex, html, error, labels FROM formula WHERE engine = ? AND tex IN '
                                   f'({",".join("?" * len(chunk))})', [self.engine, *chunk])
            found.update((key, (html, error, json.loads(labels))) for key, html, error, labels in rows)
        return found

    def put(self, typeset: Dict[str, Tuple[str, Optional[str], dict]]):
        """Keep new formulas; those of another engine (an older MathJax or generator) go."""
        try:
            with self.db:
                self.db.execute('DELETE FROM formula WHERE engine != ?', [self.engine])
                self.db.executemany('INSERT OR REPLACE INTO formula VALUES (?, ?, ?, ?, ?)',
                                    [(self.engine, key, html, error, json.dumps(labels, sort_keys=True))
                                     for key, (html, error, labels) in typeset.items()])
        except sqlite3.Error:
            pass  # a read-only or full disk costs the next build time, not this one its result

    def close(self):
        if self.connection is not None:
            self.connection.close()


class Pages:
    """
    The pages and files of the last build into `out`, as its manifest describes them, for this
    build to reuse: none if our code changed since (`generator` is the hash of everything that
    shapes a page). `as_written` holds the files that were reused as found, with their hashes.
    """

    def __init__(self, out: Path, generator: str):
        self.out = out
        self.manifest = load_manifest(out)
        same = self.manifest.get('generator') == generator
        self.pages = self.manifest.get('pages', {}) if same else {}
        self.files = self.manifest.get('files', {}) if same else {}
        self.as_written: Dict[str, str] = {}

    def parsed(self, url: str, path: str, digest: str, root: Path) -> Optional[dict]:
        """
        What the last build learnt from `path` (title, summary, search entries, includes, images),
        if its bytes and those of its includes and images are unchanged. The images are copied
        from the manifest's list, so they too must really be in the tree.
        """
        before = self.pages.get(url)
        if (before and before.get('source') == path and before['hash'] == digest
                and all((root / d).is_file() and sha(root / d) == h for d, h in before.get('deps', {}).items())
                and all(within(root, root / image) for image in before.get('images', []))):
            return before
        return None

    def output(self, url: str, key: str) -> Optional[bytes]:
        """The page the last build wrote, if it was laid out from the same `key` and is as written."""
        before = self.pages.get(url, {})
        return self.found(url, before.get('output')) if before.get('key') == key else None

    def written(self, path: str) -> Optional[bytes]:
        """A file that depends on the generator alone, as the last build wrote it, if it is still so."""
        return self.found(path, self.files.get(path))

    def found(self, path: str, digest: Optional[str]) -> Optional[bytes]:
        """
        The bytes of a file the last build wrote, if they hash to `digest`. One that a symbolic
        link leads out of the output folder is never found: it is written, and refused there.
        """
        existing = self.out / path
        if digest and existing.is_file() and within(self.out, existing):
            data = existing.read_bytes()
            if sha_bytes(data) == digest:
                self.as_written[path] = digest
                return data
        return None


def sha(path: Path) -> str:
    return sha_bytes(path.read_bytes())


def sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ## The manifest is untrusted input
#
# Only what passes `valid_entry` is used; the rest is dropped. Paths must be plain relative
# paths: no `..`, no leading `/`, nothing `normalise` would change.

def load_manifest(out: Path) -> dict:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict):
        return {}
    pages = manifest.get('pages') if isinstance(manifest.get('pages'), dict) else {}
    # Each file the last build wrote, and the hash of what it wrote (`None` when unknown).
    files = manifest.get('files')
    if isinstance(files, list):
        files = {path: None for path in files if isinstance(path, str)}
    files = files if isinstance(files, dict) else {}
    return {'generator': manifest.get('generator'),
            'pages': {url: meta for url, meta in pages.items() if valid_entry(url, meta)},
            'files': {path: digest if isinstance(digest, str) else None
                      for path, digest in files.items() if plain_path(path)}}


def valid_entry(url, meta) -> bool:
    return (plain_path(url) and isinstance(meta, dict) and isinstance(meta.get('hash'), str)
            and (meta.get('source') is None or plain_path(meta.get('source')))
            and isinstance(meta.get('deps', {}), dict) and all(plain_path(d) for d in meta.get('deps', {}))
            and isinstance(meta.get('images', []), list) and all(plain_path(i) for i in meta.get('images', []))
            and isinstance(meta.get('title', ''), str) and isinstance(meta.get('summary', ''), str)
            and isinstance(meta.get('search', []), list))


def plain_path(path) -> bool:
    """A relative path with `/` separators that stays where it points: `a/b.html`, not `../b` or `/b`."""
    return (isinstance(path, str) and path != '' and '\\' not in path and '\0' not in path
            and not re.match(r'[A-Za-z]:', path) and normalise(path) == path)


def encode_manifest(manifest: dict) -> bytes:
    """
    JSON with a line for each page and each file, so that a change to one page is a change to
    its line. Each line is made by `json`'s C encoder: an indented dump takes its Python path,
    which cost a no-change build a tenth of its time.
    """
    def encode(value) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    parts = []
    for name, value in sorted(manifest.items()):
        if isinstance(value, dict):
            value = '{\n' + ',\n'.join(f'  {encode(k)}: {encode(v)}' for k, v in sorted(value.items())) + '\n }'
        else:
            value = encode(value)
        parts.append(f' {encode(name)}: {value}')
    return ('{\n' + ',\n'.join(parts) + '\n}\n').encode()
