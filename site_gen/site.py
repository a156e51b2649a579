"""
---
title: Build the site
summary: Pages, navigation, index pages, search index and assets, written incrementally and atomically, only inside the output folder.
---

# Site

`build()` turns source files into a site folder:

1. **Find** the sources and give each page its path, relative to the root: `pkg/__init__.py` and
   `pkg/README.md` become `pkg/index.html`, `pkg/adam.py` becomes `pkg/adam.html`. Two sources
   that would write the same page are an error, not a silent overwrite. An empty file is skipped
   with a note, and so is a named file that is neither Python nor Markdown.
2. **Parse and render** each source whose bytes, includes or images changed since the last build.
   The manifest `manifest.json` remembers, for every page, the hashes it was built from and
   what the navigation needs (title, summary, search entries), and the hash of every file
   written. It holds no timestamps and no
   absolute paths, so it is the same on every machine and can be committed with the site;
   [cache](cache.html) reads it and decides what may be reused.
3. **Typeset** the formulas of every page rendered, in one request to MathJax for those the
   formula cache lacks ([typeset](typeset.html)).
   Every error of every file is collected first; **if there is any, nothing is written** and the
   last good site stays as it was. With `keep_going`, the good pages are built and the bad ones
   left out.
4. **Lay out** each page ([layout](layout.html)) with its navigation (breadcrumb, previous/next, index listing) and the
   CSS of the characters its formulas draw. A page whose inputs and navigation did not change
   is not rendered again.
5. **Write** only the files whose bytes differ, each through a temporary file and a rename,
   and remove pages whose sources are gone.

A build with nothing to do reads the sources and the pages it wrote, and little else: the
[renderer](render.html) and what it imports (Markdown, the sanitiser, Pygments, PyYAML) are
loaded when a first page must be rendered, and the assets, which depend on the generator alone,
are made again only when the last build's copies are not as it wrote them.

The manifest is committed, so a pull request can change it: it is read as untrusted input. An
entry whose paths are not plain relative paths is dropped, and every write and removal goes
through [`inside`](#inside), which refuses any path that would land outside the output folder.
"""

import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from site_gen import BuildError, SiteError
from site_gen import config as configuration
from site_gen import layout, typeset
from site_gen.cache import MANIFEST, Formulas, Pages, encode_manifest, plain_path, sha, sha_bytes
from site_gen.paths import relative_url

if TYPE_CHECKING:
    from site_gen.render import RenderedPage, Renderer

PACKAGE = Path(__file__).resolve().parent
# Our temporary files: `.NAME.PID.tmp`, next to the file they become.
TEMPORARY_RE = re.compile(r'^\..+\.(\d+)\.tmp$')
STALE_SECONDS = 600


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
    """
    What a build did. `notes` say what was skipped and why; `errors` are only non-empty after a
    build with `keep_going` (otherwise they are raised), and name the pages that were left out.
    """
    rendered: List[str]
    written: List[str]
    removed: List[str]
    warnings: List[str]
    pages: int
    notes: List[str] = field(default_factory=list)
    errors: List[SiteError] = field(default_factory=list)


def build(root: Path, sources=None, out: Path = Path('html'), links_from: Optional[Path] = None,
          keep_going: bool = False) -> Report:
    """
    Build the site from `sources` (files and folders, relative to `root` or absolute; by default
    the configuration's `sources`, else the root itself) into `out`. The configuration is the
    `[tool.site_gen]` table of the nearest `pyproject.toml` at or above `root`. Links from pages
    to their source files are relative to `links_from` (default `out`), so that `check` can build
    elsewhere and still compare byte for byte.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    links_from = Path(links_from).resolve() if links_from else out
    config, project = configuration.find(root)
    notes: List[str] = []
    sources = sources or [project / source for source in config.sources] or ['.']
    paths = discover(root, sources, out, config.exclude, notes, project)
    urls = assign_urls(paths)
    generator = generator_hash()
    last = Pages(out, generator)

    @functools.cache
    def renderer() -> 'Renderer':
        # Markdown, the sanitiser, Pygments and PyYAML come with the renderer, made when a first
        # page must be rendered: a build with nothing to render needs none of them.
        from site_gen.render import Renderer
        return Renderer(root, urls.get, remote_images=config.remote_images)

    with typeset.MathJax(Formulas(typeset.engine())) as mathjax:
        metas, rendered, errors, warnings = render_changed(root, paths, urls, last, renderer)
        sections = typeset_rendered(mathjax, rendered, metas, errors)
        if errors and not keep_going:
            raise BuildError(errors)

        def page_html(page: Page, context: dict) -> bytes:
            if page.source and page.url not in sections:
                # Its source is unchanged but its navigation is not: render it again.
                _, again, problems = render(renderer(), page.source, (root / page.source).read_bytes())
                sections[page.url], more = mathjax.page(again) if not problems else ([], [])
                if problems or more:
                    raise BuildError(problems + more)
            body = sections[page.url] if page.source else []
            return layout.page(page, body, *mathjax.page_style(body), **context).encode()

        pages = site_pages(metas)
        outputs, manifest_pages = lay_out(pages, last, generator, page_html,
                                          lambda page: navigation(page, pages, root, links_from, config, project))
        for page in pages.values():
            outputs.update({image: (root / image).read_bytes() for image in page.meta.get('images', [])})
        # The assets depend on the generator alone: the last build's copies serve if it was this one.
        outputs.update({path: last.written(path) or make() for path, make in assets(mathjax).items()})
        outputs['assets/search-index.js'] = search_index(pages)
    manifest = {'generator': generator, 'pages': manifest_pages,
                'files': {path: last.as_written.get(path) or sha_bytes(data) for path, data in outputs.items()}}
    written, removed = write(out, outputs, manifest, last)
    return Report(rendered=sorted(sections), written=written, removed=removed, warnings=warnings,
                  pages=len(pages), notes=sorted(notes), errors=errors)


def render_changed(root: Path, paths: List[str], urls: Dict[str, str], last: Pages, renderer: Callable[[], 'Renderer']):
    """
    Parse and render each source that changed since the last build; reuse what the last build
    learnt of the others. Returns what each page's navigation needs, by URL; the rendered pages;
    every error of every file; and the warnings.
    """
    metas: Dict[str, dict] = {}
    rendered: Dict[str, 'RenderedPage'] = {}
    errors: List[SiteError] = []
    warnings: List[str] = []
    for path in paths:
        url = urls[path]
        data = (root / path).read_bytes()
        digest = sha_bytes(data)
        before = last.parsed(url, path, digest, root)
        if before:
            metas[url] = before
            continue
        source, page, problems = render(renderer(), path, data)
        if source:
            warnings += source.warnings + page.warnings
        if problems:
            errors += problems
            continue
        rendered[url] = page
        metas[url] = {
            'source': path, 'hash': digest,
            'title': source.title or default_title(path), 'summary': source.summary,
            'deps': {d: sha(root / d) for d in page.deps}, 'images': sorted(page.images),
            'search': [entry for s in page.sections for entry in s.search],
        }
    return metas, rendered, errors, warnings


def typeset_rendered(mathjax: typeset.MathJax, rendered: Dict[str, 'RenderedPage'], metas: Dict[str, dict],
                     errors: List[SiteError]) -> Dict[str, list]:
    """
    The sections of every rendered page with their formulas typeset: all of the build's
    formulas go to MathJax in one request, then each page takes its own. A page with a formula
    MathJax cannot typeset is left out, and its errors join `errors`.
    """
    mathjax.typeset(span for page in rendered.values() for s in page.sections for span in typeset.spans(s.prose))
    sections: Dict[str, list] = {}
    for url, page in rendered.items():
        typeset_sections, problems = mathjax.page(page)
        if problems:
            errors += problems
            del metas[url]
        else:
            sections[url] = typeset_sections
    return sections


def lay_out(pages: Dict[str, Page], last: Pages, generator: str, page_html, context_for):
    """
    Every page's HTML, and its manifest entry. A page whose source, includes, images and
    navigation (`context_for(page)`) are those the last build wrote it from is reused as written;
    the others are made by `page_html(page, context)`.
    """
    everything = sha_text(json.dumps(sorted(pages), sort_keys=True))
    outputs: Dict[str, bytes] = {}
    manifest_pages = {}
    for url, page in sorted(pages.items()):
        context = context_for(page)
        key = sha_text(json.dumps([generator, page.meta.get('hash'), page.meta.get('deps'), context, everything],
                                  sort_keys=True))
        reused = last.output(url, key)
        outputs[url] = reused if reused is not None else page_html(page, context)
        manifest_pages[url] = dict(page.meta, key=key, output=last.as_written.get(url) or sha_bytes(outputs[url]))
    return outputs, manifest_pages


def write(out: Path, outputs: Dict[str, bytes], manifest: dict, last: Pages):
    """
    Write the files whose bytes changed, remove the ones the last build wrote and this one does
    not. A file the last build wrote, found as written and kept as it is, is not read again.
    When this build writes files the last one did not, the manifest is written first with all
    of them, so that a build killed half way leaves nothing that the next build does not know
    about and cannot remove.
    """
    remove_temporaries(out)
    old_files = last.manifest.get('files', {})
    if not outputs.keys() <= old_files.keys():
        journal = dict(last.manifest, files={**{path: None for path in outputs}, **old_files, MANIFEST: None})
        write_if_changed(out, MANIFEST, encode_manifest(journal))
    written = [path for path, data in sorted(outputs.items())
               if path not in last.as_written and write_if_changed(out, path, data)]
    removed = [path for path in old_files if path not in outputs and path != MANIFEST and remove(out, path)]
    write_if_changed(out, MANIFEST, encode_manifest(manifest))
    return written, removed


def render(renderer: 'Renderer', path: str, data: bytes):
    """Parse and render one source: the parsed source, its page, and every error of both, in line order."""
    from site_gen.parse import parse
    try:
        source = parse(path, data)
    except SiteError as e:
        return None, None, [e]
    page = renderer.render(source)
    errors = sorted(source.errors + page.errors, key=lambda e: (e.path != path, e.path, e.line))
    return source, page, errors


# ## Finding sources and naming pages

def discover(root: Path, sources, out: Path, exclude=(), notes: Optional[List[str]] = None,
             project: Optional[Path] = None) -> List[str]:
    """
    Every `.py` file under each source folder, plus the Python and Markdown files named directly,
    as paths relative to `root`; not hidden files, caches, the output folder, or what the
    configuration excludes (globs of paths relative to the `project` folder, as its `sources`
    are, whatever the root). Empty files and named files of another kind are left out with a note.
    """
    notes = [] if notes is None else notes
    found = set()
    errors = []
    for source in sources:
        full = (root / source).resolve()
        if not full.exists():
            errors.append(SiteError(str(source), 1, 'no such file or folder to build'))
            continue
        if full != root and root not in full.parents:
            errors.append(SiteError(str(source), 1, f'outside the root {root}; pass --root with a folder that holds it'))
            continue
        candidates = sorted(full.rglob('*.py')) if full.is_dir() else [full]
        for path in candidates:
            relative = path.relative_to(root).as_posix()
            if (any(part.startswith('.') or part == '__pycache__' for part in Path(relative).parts)
                    or path == out or out in path.parents
                    or any(fnmatch(os.path.relpath(path, project or root), pattern) for pattern in exclude)):
                continue
            if root not in path.resolve().parents:
                notes.append(f'{relative}: skipped: a symbolic link that leads outside the root')
            elif path.suffix not in ('.py', '.md'):
                notes.append(f'{relative}: skipped: neither Python nor Markdown')
            elif not path.read_bytes().strip():
                notes.append(f'{relative}: skipped: empty file, so no page' +
                             ('; the folder gets a generated index page' if path.name == '__init__.py' else ''))
            else:
                found.add(relative)
    if errors:
        raise BuildError(errors)
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
        if url in owners or url.startswith('assets/') or url == MANIFEST:
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

def navigation(page: Page, pages: Dict[str, Page], root: Path, out: Path, config: configuration.Config,
               project: Path) -> dict:
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
    # "View source" points into the repository when the configuration names one, at the path
    # relative to the project's folder; otherwise to the file itself, relative to the page.
    source_href = source_url = None
    if page.source:
        source_url = config.source_url(Path(os.path.relpath(root / page.source, project)).as_posix())
        source_href = source_url or Path(os.path.relpath(root / page.source, (out / here).parent)).as_posix()
    depth = here.count('/')
    return {
        'crumbs': parents,
        'prev': link(siblings[position - 1] if position > 0 else None),
        'next': link(siblings[position + 1] if position + 1 < len(siblings) else None),
        'listing': listing,
        'subfolders': subfolders,
        'source_href': source_href,
        'root': '../' * depth,
        'source_url': source_url,
        'canonical': config.canonical(here),
        'site_title': config.name or pages['index.html'].title,
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


# ## Assets

def assets(mathjax: typeset.MathJax) -> Dict[str, Callable[[], bytes]]:
    """
    Our CSS and scripts, Pygments' colours for both themes, MathJax's CSS and fonts: each by the
    function that makes it, called only if the last build's copy does not serve.
    """
    files = {f'assets/{p.name}': p.read_bytes for p in sorted((PACKAGE / 'static').iterdir())
             if p.is_file() and not p.name.startswith('.')}
    files['assets/pygments.css'] = lambda: pygments_css().encode()
    files.update(typeset.assets(mathjax))
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
    """Everything besides the sources that shapes the output: our code and styles."""
    versions = ' '.join(f'{package} {installed_version(package)}' for package in ('markdown', 'pygments', 'nh3'))
    digest = hashlib.sha256(f'{versions} {typeset.engine()}'.encode())
    for path in sorted(generator_files()):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b'\0' + path.read_bytes())
    return digest.hexdigest()


def installed_version(package: str) -> str:
    """
    A package's version, read from the name of the metadata folder installed beside it (else
    from the package itself): importing Markdown, Pygments and nh3 costs more than the rest of
    a build with nothing to render.
    """
    spec = importlib.util.find_spec(package)
    folder = Path(spec.origin).parent.parent
    prefix = package.lower() + '-'
    for name in os.listdir(folder):
        if name.lower().startswith(prefix) and name.endswith('.dist-info'):
            return name[len(prefix):-len('.dist-info')]
    return importlib.import_module(package).__version__


def generator_files() -> List[Path]:
    """Our modules and static files; not editor backups or other stray files."""
    files = list(PACKAGE.glob('*.py')) + list(PACKAGE.glob('*.js')) + list((PACKAGE / 'static').glob('*'))
    return [path for path in files if path.is_file() and not path.name.startswith('.')]


# ### Writing only inside the output folder
#
# <a id="inside"></a>
# `inside` is the one gate for every write and removal. Besides the path's text, it checks
# where the path really lands, so a symbolic link inside the output folder cannot lead out of it.

def inside(out: Path, path: str) -> Path:
    target = out / path
    if not plain_path(path) or out.resolve() not in target.resolve().parents:
        raise BuildError([SiteError(str(out / MANIFEST), 1, f'refusing to write or remove {path!r}: '
                                                            f'it is outside {out}')])
    return target


def write_if_changed(out: Path, path: str, data: bytes) -> bool:
    """Write through a temporary file and a rename, so no reader ever sees half a file."""
    target = inside(out, path)
    if target.is_file() and target.read_bytes() == data:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f'.{target.name}.{os.getpid()}.tmp')
    temporary.write_bytes(data)
    os.replace(temporary, target)
    return True


def remove(out: Path, path: str) -> bool:
    target = inside(out, path)
    if not target.is_file():
        return False
    target.unlink()
    for parent in target.parents:
        if parent == out or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


def remove_temporaries(out: Path):
    """
    The temporary files of builds that were killed between writing and renaming. One of a build
    that is still running (`serve` and `build` at once) is left alone, unless it is old enough
    that its process id must belong to some other process by now.
    """
    if not out.is_dir():
        return
    for path in out.rglob('.*.tmp'):
        m = TEMPORARY_RE.match(path.name)
        if not m or not path.is_file() or path.is_symlink():
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or not process_alive(pid) or time.time() - path.stat().st_mtime > STALE_SECONDS:
            inside(out, path.relative_to(out).as_posix()).unlink()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def sha_text(text: str) -> str:
    return sha_bytes(text.encode())
