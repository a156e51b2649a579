"""
---
title: Build the site
summary: Pages, navigation, index pages, search index and assets, written incrementally and atomically.
---

# Site

`build()` turns source files into `html/`:

1. **Find** the sources and give each page its path: `pkg/__init__.py` and `pkg/README.md`
   become `pkg/index.html`, `pkg/adam.py` becomes `pkg/adam.html`. Two sources that would
   write the same page are an error, not a silent overwrite.
2. **Parse and render** each source whose bytes, includes or images changed since the last build.
   The manifest `html/manifest.json` remembers, for every page, the hashes it was built from and
   what the navigation needs (title, summary, search entries). It holds no timestamps and no
   absolute paths, so it is the same on every machine and can be committed with the site.
   Every error of every file is collected first; **if there is any, nothing is written** and the
   last good site stays as it was.
3. **Lay out** each page with its navigation (breadcrumb, previous/next, index listing).
   A page whose inputs and navigation did not change is not rendered again.
4. **Write** only the files whose bytes differ, each through a temporary file and a rename,
   and remove pages whose sources are gone.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from site_gen import BuildError, SiteError
from site_gen.parse import parse
from site_gen.render import Renderer, relative_url

PACKAGE = Path(__file__).resolve().parent
DEFAULT_SOURCES = ('labml_opt', 'README.md')
MANIFEST = 'manifest.json'
# Canonical URLs are this plus the page's path; change it in one place when the site moves.
SITE_URL = 'https://labml-opt.github.io/'
# The MathJax files a page needs, from the `django-static-mathjax` wheel: the combined TeX to
# CommonHTML component, the fonts it loads on demand, and the licence.
MATHJAX_FILES = ('es5/tex-chtml-full.js', 'es5/output/chtml/fonts/woff-v2/*.woff', 'LICENSE')


@dataclass
class Page:
    url: str
    source: Optional[str]
    title: str
    summary: str
    folder: str
    is_index: bool
    meta: dict = field(default_factory=dict)


@dataclass
class Report:
    rendered: List[str]
    written: List[str]
    removed: List[str]
    warnings: List[str]
    pages: int


def build(root: Path, sources=DEFAULT_SOURCES, out: Path = Path('html'), links_from: Optional[Path] = None) -> Report:
    """
    Build the site from `sources` (paths relative to `root`) into `out`. Links from pages to
    their source files are relative to `links_from` (default `out`), so that `check` can build
    elsewhere and still compare byte for byte.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    links_from = Path(links_from).resolve() if links_from else out
    paths = discover(root, sources, out)
    urls = assign_urls(paths)
    page_for = {p: u for p, u in urls.items()}.get
    old = load_manifest(out)
    generator = generator_hash()
    previous = old.get('pages', {}) if old.get('generator') == generator else {}
    renderer = Renderer(root, page_for)

    # ### Parse and render what changed
    metas: Dict[str, dict] = {}
    rendered: Dict[str, tuple] = {}
    errors: List[SiteError] = []
    warnings: List[str] = []
    for path in paths:
        url = urls[path]
        digest = sha(root / path)
        before = previous.get(url)
        if before and before.get('source') == path and before['hash'] == digest and deps_unchanged(root, before):
            metas[url] = before
            continue
        try:
            source = parse(path, (root / path).read_bytes())
            page = renderer.render(source)
        except SiteError as e:
            errors.append(e)
            continue
        rendered[url] = (source, page)
        warnings += page.warnings
        metas[url] = {
            'source': path, 'hash': digest,
            'title': source.title or default_title(path), 'summary': source.summary,
            'deps': {d: sha(root / d) for d in page.deps}, 'images': sorted(page.images),
            'search': [entry for s in page.sections for entry in s.search],
        }
    if errors:
        raise BuildError(errors)

    # ### Lay out pages
    pages = site_pages(metas)
    everything = sha_text(json.dumps(sorted(pages), sort_keys=True))
    outputs: Dict[str, bytes] = {}
    manifest_pages = {}
    for url, page in sorted(pages.items()):
        context = navigation(page, pages, root, links_from)
        key = sha_text(json.dumps([generator, page.meta.get('hash'), page.meta.get('deps'), context, everything],
                                  sort_keys=True))
        before = previous.get(url, {})
        existing = out / url
        if before.get('key') == key and existing.is_file() and sha(existing) == before.get('output'):
            outputs[url] = existing.read_bytes()
        else:
            if page.source and url not in rendered:
                try:
                    source = parse(page.source, (root / page.source).read_bytes())
                    rendered[url] = (source, renderer.render(source))
                except SiteError as e:
                    raise BuildError([e]) from None
            body = rendered[url][1].sections if page.source else []
            outputs[url] = template('page.html', page=page, sections=body, **context).encode()
        manifest_pages[url] = dict(page.meta, key=key, output=sha_bytes(outputs[url]))
        for image in page.meta.get('images', []):
            outputs[image] = (root / image).read_bytes()

    outputs.update(assets())
    outputs['assets/search-index.js'] = search_index(pages)
    manifest = {'generator': generator, 'pages': manifest_pages, 'files': sorted(outputs)}
    outputs[MANIFEST] = (json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False) + '\n').encode()

    # ### Write
    written = [path for path, data in sorted(outputs.items()) if write_if_changed(out / path, data)]
    removed = [path for path in old.get('files', []) if path not in outputs and remove(out, path)]
    return Report(rendered=sorted(rendered), written=written, removed=removed, warnings=warnings,
                  pages=len(pages))


# ## Finding sources and naming pages

def discover(root: Path, sources, out: Path) -> List[str]:
    """Every `.py` file under each source folder, plus source files named directly."""
    found = set()
    for source in sources:
        full = (root / source).resolve()
        if not full.exists():
            raise BuildError([SiteError(str(source), 1, 'no such file or folder to build')])
        if full.is_dir():
            for path in full.rglob('*.py'):
                relative = path.relative_to(root)
                if not any(part.startswith(('.', '__pycache__')) for part in relative.parts) and out not in path.parents:
                    found.add(relative.as_posix())
        else:
            found.add(full.relative_to(root).as_posix())
    return sorted(found)


def assign_urls(paths: List[str]) -> Dict[str, str]:
    urls: Dict[str, str] = {}
    owners: Dict[str, str] = {}
    errors = []
    for path in paths:
        folder, _, name = path.rpartition('/')
        stem = name.rsplit('.', 1)[0]
        page = 'index' if name in ('__init__.py', 'README.md') else stem
        url = f'{folder}/{page}.html' if folder else f'{page}.html'
        if url in owners or url.startswith('assets/'):
            errors.append(SiteError(path, 1, f'{owners.get(url, "the site assets")} and {path} would '
                                             f'both be written to {url}; rename one'))
        owners[url] = path
        urls[path] = url
    if errors:
        raise BuildError(errors)
    return urls


def default_title(path: str) -> str:
    parts = path.split('/')
    return parts[-2] if parts[-1] in ('__init__.py', 'README.md') and len(parts) > 1 else parts[-1]


def site_pages(metas: Dict[str, dict]) -> Dict[str, Page]:
    """The source pages, plus a generated index page for every folder that has none."""
    pages = {}
    for url, meta in metas.items():
        folder = url.rpartition('/')[0]
        pages[url] = Page(url, meta['source'], meta['title'], meta['summary'], folder,
                          url.rpartition('/')[2] == 'index.html', meta)
    folders = {''}
    for url in list(pages):
        parts = url.split('/')[:-1]
        folders.update('/'.join(parts[:i]) for i in range(1, len(parts) + 1))
    for folder in folders:
        url = f'{folder}/index.html' if folder else 'index.html'
        if url not in pages:
            title = folder.rpartition('/')[2] or 'Home'
            pages[url] = Page(url, None, title, '', folder, True, {'source': None, 'title': title, 'summary': ''})
    return pages


# ## Navigation

def navigation(page: Page, pages: Dict[str, Page], root: Path, out: Path) -> dict:
    """Everything on a page that depends on other pages; part of the page's cache key."""
    here = page.url
    own_folder = page.folder
    parents = []
    parts = own_folder.split('/') if own_folder else []
    for i in range(len(parts) + 1):
        url = '/'.join(parts[:i] + ['index.html'])
        if url != here:
            parents.append((pages[url].title, relative_url(here, url)))
    siblings = folder_sequence(own_folder, pages)
    position = siblings.index(here)

    def link(url):
        return (pages[url].title, relative_url(here, url)) if url else None

    listing, subfolders = [], []
    if page.is_index:
        listing = [(pages[u].title, pages[u].summary, relative_url(here, u)) for u in siblings if u != here]
        subfolders = [(p.title, p.summary, relative_url(here, p.url)) for p in sorted(pages.values(), key=lambda p: p.url)
                      if p.is_index and p.folder and p.folder.rpartition('/')[0] == own_folder and p.url != here]
    source_href = None
    if page.source:
        source_href = Path(os.path.relpath(root / page.source, (out / here).parent)).as_posix()
    depth = here.count('/')
    return {
        'crumbs': parents,
        'prev': link(siblings[position - 1] if position > 0 else None),
        'next': link(siblings[position + 1] if position + 1 < len(siblings) else None),
        'listing': listing,
        'subfolders': subfolders,
        'source_href': source_href,
        'root': '../' * depth,
        'canonical': SITE_URL + here,
        'site_title': pages['index.html'].title,
    }


def folder_sequence(folder: str, pages: Dict[str, Page]) -> List[str]:
    """The reading order within a folder: its index page, then its pages by file name."""
    index = f'{folder}/index.html' if folder else 'index.html'
    others = sorted(p.url for p in pages.values() if p.folder == folder and p.url != index)
    return [index] + others


def search_index(pages: Dict[str, Page]) -> bytes:
    """
    A script, not JSON: `fetch` is blocked on `file://`, a `<script>` is not.
    Each entry is a page URL, title, summary, and the anchor, heading and text of each part of
    its prose.
    """
    entries = [[url, p.title, p.summary, p.meta.get('search', [])] for url, p in sorted(pages.items())]
    data = json.dumps(entries, ensure_ascii=False, separators=(',', ':'), sort_keys=True)
    return f'window.SEARCH_INDEX = {data};\n'.encode()


# ## Templates and assets

_environment = None


def template(name: str, **context) -> str:
    global _environment
    if _environment is None:
        import jinja2
        _environment = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE / 'templates'),
                                          autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                          keep_trailing_newline=True)
    return _environment.get_template(name).render(**context)


def assets() -> Dict[str, bytes]:
    """Our CSS and scripts, Pygments' colours for both themes, and MathJax."""
    files = {f'assets/{p.name}': p.read_bytes() for p in sorted((PACKAGE / 'static').iterdir())
             if p.is_file() and not p.name.startswith('.')}
    files['assets/pygments.css'] = pygments_css().encode()
    import mathjax
    base = Path(mathjax.__file__).parent / 'static' / 'mathjax'
    for pattern in MATHJAX_FILES:
        for path in sorted(base.glob(pattern)):
            relative = path.relative_to(base).as_posix().removeprefix('es5/')
            files[f'assets/mathjax/{relative}'] = path.read_bytes()
    return files


def pygments_css() -> str:
    from pygments.formatters import HtmlFormatter
    light = HtmlFormatter(style='friendly').get_style_defs(':root[data-theme="light"] .hl')
    dark = HtmlFormatter(style='github-dark').get_style_defs(':root[data-theme="dark"] .hl')
    return f'/* Generated from Pygments styles friendly (light) and github-dark (dark). */\n{token_rules(light)}\n{token_rules(dark)}\n'


def token_rules(css: str) -> str:
    """
    Only the colours of tokens: backgrounds come from our own CSS, so that code matches the
    page's theme, and the line-number and error-box rules are for Pygments' own layout.
    """
    return '\n'.join(line for line in css.splitlines()
                     if ' .hl .' in line and not line.split('{')[1].strip().startswith('background')
                     and not re.search(r'\.hl \.(hll|err|w|lineno|linenos)\b', line))


# ## Files and hashes

def generator_hash() -> str:
    """Everything besides the sources that shapes the output: our code, templates and styles."""
    import markdown
    import pygments
    digest = hashlib.sha256(f'markdown {markdown.__version__} pygments {pygments.__version__}'.encode())
    for path in sorted(generator_files()):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b'\0' + path.read_bytes())
    return digest.hexdigest()


def generator_files() -> List[Path]:
    """Our modules, templates and static files; not editor backups or other stray files."""
    files = list(PACKAGE.glob('*.py')) + list((PACKAGE / 'templates').glob('*')) + list((PACKAGE / 'static').glob('*'))
    return [path for path in files if path.is_file() and not path.name.startswith('.')]


def deps_unchanged(root: Path, meta: dict) -> bool:
    return all((root / d).is_file() and sha(root / d) == h for d, h in meta.get('deps', {}).items())


def load_manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return {}


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write through a temporary file and a rename, so no reader ever sees half a file."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return True


def remove(out: Path, path: str) -> bool:
    target = out / path
    if not target.is_file():
        return False
    target.unlink()
    for parent in target.parents:
        if parent == out or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


def sha(path: Path) -> str:
    return sha_bytes(path.read_bytes())


def sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha_text(text: str) -> str:
    return sha_bytes(text.encode())
