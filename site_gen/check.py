"""
---
title: Check a built site
summary: Fails when the site is stale, a link or anchor is broken, math is unbalanced, or a page runs a foreign script.
---

# Check

`check()` returns a list of problems, empty when the site is good. It needs no browser:

* **Freshness**: build the sources into a temporary folder, with links to the sources computed
  as if it were `out`, and compare every file byte for byte.
* **Links**: every relative `href` and `src` must name an existing file, and a `#fragment`
  must name an `id` in the target page; no `id` may appear twice on a page. Links to `http(s)` are not fetched (we are offline).
* **Math**: every formula is typeset, with no MathJax error and nothing but MathJax's own tags
  and attributes, and its TeX is closed by its own delimiter (or is a reference to an equation, in
  prose), with balanced braces and environments.
* **Scripts and URLs**: a page may only load our scripts from `assets/`, and no link may use a
  scheme other than `http(s)` or `mailto` (the empty `data:,` favicon aside) or name another host
  without one (`//host/…`).
"""

import html
import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Set
from urllib.parse import unquote

from site_gen import BuildError
from site_gen.sanitise import url_problem
from site_gen.tex import REF_RE, check_math
from site_gen.typeset import unsafe
from site_gen.site import build

MATH_DELIMITERS = (('$$', '$$'), ('\\[', '\\]'), ('\\(', '\\)'), ('$', '$'))
# A typeset formula, as typeset.py writes it: MathJax's HTML and MathML, then the TeX.
FORMULA_RE = re.compile(r'<span class="math">(<mjx-container .*?</mjx-container>)'
                        r'<span class="tex" aria-hidden="true">([^<]*)</span></span>', re.S)
ERROR_RE = re.compile(r'data-mjx-error="([^"]*)"')


def check(root: Path, sources=None, out: Path = Path('html')) -> List[str]:
    out = Path(out).resolve()
    if not out.is_dir():
        return [f'{out}: no site here; run `python -m site_gen build` first']
    return freshness(Path(root), sources, out) + links_and_scripts(out) + math(out)


def freshness(root: Path, sources, out: Path) -> List[str]:
    fresh = Path(tempfile.mkdtemp(prefix='site_gen_check-'))
    try:
        try:
            build(root, sources, fresh, links_from=out)
        except BuildError as e:
            return [f'the sources do not build: {error}' for error in e.errors]
        expected = {p.relative_to(fresh).as_posix(): p for p in fresh.rglob('*') if p.is_file()}
        actual = {p.relative_to(out).as_posix(): p for p in out.rglob('*') if p.is_file()}
        problems = [f'{out.name}/{name}: missing; run `make html`' for name in sorted(expected.keys() - actual.keys())]
        problems += [f'{out.name}/{name}: not produced by the sources any more; run `make html`'
                     for name in sorted(actual.keys() - expected.keys())]
        problems += [f'{out.name}/{name}: stale; run `make html`' for name in sorted(expected.keys() & actual.keys())
                     if expected[name].read_bytes() != actual[name].read_bytes()]
        return problems
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


class _Page(HTMLParser):
    """Collects the ids, links and scripts of one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: Set[str] = set()
        self.duplicates: List[str] = []
        self.links: List[str] = []
        self.scripts: List[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get('id'):
            if attributes['id'] in self.ids:
                self.duplicates.append(attributes['id'])
            self.ids.add(attributes['id'])
        if tag == 'a' and attributes.get('name'):
            self.ids.add(attributes['name'])
        if tag == 'script':
            self.scripts.append(attributes.get('src') or '')
        for name in ('href', 'src'):
            if attributes.get(name) and attributes.get('rel') != 'canonical':
                self.links.append(attributes[name])


def links_and_scripts(out: Path) -> List[str]:
    pages: Dict[Path, _Page] = {}
    for path in sorted(out.rglob('*.html')):
        parser = _Page()
        parser.feed(path.read_text(encoding='utf-8'))
        pages[path.resolve()] = parser
    problems = []
    for path, page in pages.items():
        name = path.relative_to(out).as_posix()
        problems += [f'{name}: id {duplicate!r} is used twice, so links to it are ambiguous' for duplicate in page.duplicates]
        for script in page.scripts:
            target = (path.parent / script).resolve()
            if not script or out / 'assets' not in target.parents:
                problems.append(f'{name}: script {script or "(inline)"!r} is not one of the site\'s assets')
        for link in page.links:
            if link == 'data:,':
                continue
            if url_problem('a', 'href', link):
                problems.append(f'{name}: unsafe URL {link!r}: {url_problem("a", "href", link)}')
                continue
            if re.match(r'(https?|mailto):', link):
                continue
            target_name, _, fragment = link.partition('#')
            target = (path.parent / target_name).resolve() if target_name else path
            if not target.is_file():
                problems.append(f'{name}: broken link {link!r}: no file {target_name}')
            elif fragment and target.suffix == '.html':
                ids = pages[target].ids if target in pages else set()
                if unquote(html.unescape(fragment)) not in ids:
                    problems.append(f'{name}: broken link {link!r}: no id {fragment!r} in {target.name}')
    return problems


def math(out: Path) -> List[str]:
    """
    Every formula is typeset, without a MathJax error, of MathJax's own tags and attributes only,
    and keeps its TeX, which is closed by its own delimiter and balanced.
    """
    problems = []
    for path in sorted(out.rglob('*.html')):
        name = path.relative_to(out).as_posix()
        text = path.read_text(encoding='utf-8')
        formulas = FORMULA_RE.findall(text)
        untypeset = text.count('<span class="math">') - len(formulas)
        if untypeset:
            problems.append(f'{name}: {untypeset} formula(s) not typeset; run `make html`')
        for container, raw in formulas:
            span = html.unescape(raw)
            closed = (any(span.startswith(a) and span.endswith(b) and len(span) >= len(a) + len(b)
                          for a, b in MATH_DELIMITERS) or re.fullmatch(r'\\begin\{([^}]*)\}.*\\end\{\1\}', span, re.S)
                      or REF_RE.fullmatch(span))
            error = ERROR_RE.search(container)
            problem = ((None if closed else f'math {span[:60]!r} is not closed by its own delimiter') or check_math(span)
                       or (error and f'MathJax error in {span[:60]!r}: {html.unescape(error.group(1))}')
                       or unsafe(container))
            if problem:
                problems.append(f'{name}: {problem}')
    return problems
