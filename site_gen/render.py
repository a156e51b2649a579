r"""
---
title: Render sections to HTML
summary: Markdown with math kept byte for byte, a small HTML allow-list, and code highlighted as one file.
---

# Render

Prose goes through Markdown, code through Pygments. Three things make this harder than Pycco:

* **Math must reach MathJax byte for byte.** Markdown would eat `\\` row breaks, read `_` as
  emphasis and `\{` as an escaped brace. So every math span is cut out first, replaced by a
  placeholder Markdown cannot touch, and put back afterwards, HTML-escaped, inside
  `<span class="math">`. MathJax only looks inside those spans, so a stray `$` elsewhere
  is never typeset.
* **Prose is written by people, and HTML in it must not run.** Tags on a small allow-list pass
  ([`ALLOWED_TAGS`](#ALLOWED_TAGS)); any other tag, or an allowed tag with an attribute off the
  list (every `on*=` handler, `style`), is escaped so that it shows as text. Links and images
  may not use `javascript:` or any scheme but `http`, `https` and `mailto`; images must be relative.
* **Code is highlighted as a whole file**, so a multi-line string is coloured right, and then
  split into lines that keep their numbers.
"""

import ast
import hashlib
import html
import re
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import markdown
from pygments.lexers.python import PythonLexer
from pygments.token import STANDARD_TYPES, Error

from site_gen import SiteError
from site_gen.parse import Section, Source

# <a id="ALLOWED_TAGS"></a>
# The HTML that prose may contain, with the attributes each tag may carry. `id` and `title`
# are allowed on all of them, for anchors such as `<a id="WeightDecay"></a>`.
ALLOWED_TAGS = {
    'a': {'href', 'name'}, 'abbr': set(), 'b': set(), 'br': set(), 'code': set(), 'del': set(),
    'details': set(), 'div': set(), 'em': set(), 'i': set(), 'img': {'src', 'alt', 'width', 'height'},
    'kbd': set(), 'mark': set(), 'p': set(), 'span': set(), 'strong': set(), 'sub': set(),
    'summary': set(), 'sup': set(), 'u': set(),
}
GLOBAL_ATTRIBUTES = {'id', 'title'}
SAFE_SCHEMES = {'http', 'https', 'mailto'}

# Math placeholders use private-use characters, which Markdown leaves alone.
PLACEHOLDER = '\ue000{}\ue001'
PLACEHOLDER_RE = re.compile('\ue000(\\d+)\ue001')

INCLUDE_RE = re.compile(r'\[\[include:\s*(.+?)\s*\]\]')
TAG_RE = re.compile(r'<!--.*?-->|</?([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*?)?)\s*/?>', re.S)
ATTRIBUTE_RE = re.compile(r'''\s*([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?''')
IMAGE_RE = re.compile(r'!\[[^\]]*\]\(\s*<?([^)\s>]+)')
FENCE_RE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
# Control characters other than tab have no place in prose; in math they are a `\b` or `\f`
# that some tool turned into a backspace or form feed.
CONTROL_RE = re.compile('[\x00-\x08\x0b-\x1f\x7f]')


@dataclass
class RenderedSection:
    """One section as HTML, with its prose split at headings as `[anchor, heading, text]` for search."""
    id: str
    prose: str
    code: str
    search: List[List[str]]


@dataclass
class RenderedPage:
    """
    * `deps` are the files the page read besides its source (includes and images)
    * `images` maps an image's source path to its path in the output, both relative to the root
    * `warnings` name file:line for each escaped tag or link
    """
    sections: List[RenderedSection]
    deps: List[str] = field(default_factory=list)
    images: Dict[str, str] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)


class Renderer:
    """
    * `root` is the directory that source paths are relative to
    * `page_for` maps a source path to its page's output path, or `None`; links to a source
      file in prose (`[adam.py](adam.py)`) become links to its page
    """

    def __init__(self, root: Path, page_for: Callable[[str], Optional[str]]):
        self.root = root
        self.page_for = page_for
        self.md = markdown.Markdown(extensions=['fenced_code', 'codehilite', 'tables', 'sane_lists'],
                                    extension_configs={'codehilite': {'guess_lang': False, 'css_class': 'hl'}})

    def render(self, source: Source) -> RenderedPage:
        page = RenderedPage(sections=[])
        code_lines = highlight(source.text) if source.is_python else []
        used_ids: set = set()
        for section in source.sections:
            prose_html = self.prose(source.path, section, page, used_ids)
            headings = re.findall(r'<h[1-6] id="[^"]*">(.*?)</h[1-6]>', prose_html, re.S)
            heading = plain_text(headings[0]) if headings else None
            anchor = section_id(section, heading, source, used_ids)
            page.sections.append(RenderedSection(id=anchor, prose=prose_html, code=code_html(source, section, code_lines),
                                                 search=search_entries(anchor, prose_html)))
        page.deps = sorted(set(page.deps) | set(page.images))
        return page

    # ### Prose

    def prose(self, path: str, section: Section, page: RenderedPage, used_ids: set) -> str:
        """Markdown of the section's prose blocks, includes expanded, to safe HTML."""
        lines: List[str] = []
        origins: List[Tuple[str, int]] = []
        for block in section.prose:
            if lines:
                lines.append('')
                origins.append(origins[-1])
            for number, text in block:
                self.expand(path, number, text, lines, origins, page, ())
        maths: List[str] = []
        text = protect('\n'.join(lines), origins, maths, page, self.root, path)
        self.md.reset()
        out = self.md.convert(text)
        out = PLACEHOLDER_RE.sub(lambda m: f'<span class="math">{html.escape(maths[int(m.group(1))], quote=False)}</span>', out)
        out = re.sub(r'(?<!<pre>)(?<!</span>)<code>([^<]*)</code>',
                     lambda m: f'<code class="hl">{highlight_inline(html.unescape(m.group(1)))}</code>', out)
        out = re.sub(r'<h([1-6])>(.*?)</h\1>',
                     lambda m: f'<h{m.group(1)} id="{unique_id(slug(plain_text(m.group(2))), used_ids)}">{m.group(2)}</h{m.group(1)}>',
                     out, flags=re.S)
        return re.sub(r'<(?:a|img)\s[^>]*>', lambda tag: re.sub(
            r'\b(href|src)="([^"]*)"', lambda m: self.url(m, path, page, origins[0]), tag.group()), out)

    def expand(self, path, number, text, lines, origins, page, seen):
        """Append one prose line, or the lines of the Markdown file it includes."""
        control = CONTROL_RE.search(text)
        if control:
            raise SiteError(path, number, f'control character U+{ord(control.group()):04X} in prose at column '
                                          f'{control.start() + 1}: a `\\b` or `\\f` turned into a byte by a tool? '
                                          f'write the backslash in the source')
        m = INCLUDE_RE.fullmatch(text.strip())
        if not m:
            lines.append(text)
            origins.append((path, number))
            return
        target = normalise((Path(path).parent / m.group(1)).as_posix())
        if target is None:
            raise SiteError(path, number, f'include {m.group(1)} points outside the source tree')
        full = self.root / target
        if not full.is_file():
            raise SiteError(path, number, f'include file not found: {m.group(1)} (looked for {target})')
        if target in seen:
            raise SiteError(path, number, f'include cycle: {" -> ".join(seen + (target,))}')
        data = full.read_bytes()
        try:
            included = data.decode('utf-8')
        except UnicodeDecodeError:
            raise SiteError(path, number, f'include file {target} is not UTF-8') from None
        page.deps.append(target)
        for k, line in enumerate(included.splitlines(), 1):
            self.expand(target, k, line, lines, origins, page, seen + (target,))

    def url(self, m, path: str, page: RenderedPage, origin: Tuple[str, int]) -> str:
        """Check a link or image URL; rewrite links to source files into links to their pages."""
        attribute, value = m.group(1), html.unescape(m.group(2))
        squashed = re.sub(r'[\x00-\x20]', '', value).lower()
        scheme = re.match(r'([a-z][a-z0-9+.-]*):', squashed)
        if scheme and (scheme.group(1) not in SAFE_SCHEMES or attribute == 'src'):
            page.warnings.append(f'{origin[0]}:{origin[1]}: unsafe URL {value!r} removed')
            return f'{attribute}="#"'
        if attribute == 'href' and not scheme and not value.startswith(('#', '/')):
            target, _, fragment = value.partition('#')
            resolved = (Path(path).parent / target).as_posix() if target else None
            page_url = self.page_for(normalise(resolved)) if resolved else None
            if page_url:
                here = self.page_for(path)
                value = relative_url(here, page_url) + (f'#{fragment}' if fragment else '')
        return f'{attribute}="{html.escape(value)}"'


def protect(text: str, origins: List[Tuple[str, int]], maths: List[str], page: RenderedPage,
            root: Path, path: str) -> str:
    """
    Walk the Markdown once, skipping code spans and fences. Replace each math span with a
    placeholder (its text goes to `maths`), escape disallowed HTML, and collect relative images.
    """
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == '\n']

    def where(offset: int) -> Tuple[str, int]:
        return origins[min(bisect_right(line_starts, offset) - 1, len(origins) - 1)]

    def fail(offset: int, message: str):
        file, line = where(offset)
        raise SiteError(file, line, message)

    out = []
    i = 0
    while i < len(text):
        at_line_start = i == 0 or text[i - 1] == '\n'
        fence = FENCE_RE.match(text, i) if at_line_start else None
        if fence:
            marker = fence.group(1)
            close = re.compile('^ {0,3}' + re.escape(marker[0]) + '{' + str(len(marker)) + ',}[ \t]*$', re.M)
            end_of_line = text.find('\n', i)
            found = close.search(text, end_of_line + 1) if end_of_line >= 0 else None
            j = found.end() if found else len(text)
            out.append(text[i:j])
            i = j
            continue
        c = text[i]
        if c == '`':
            run = re.match('`+', text[i:]).group()
            closing = re.compile('(?<!`)' + run + '(?!`)').search(text, i + len(run))
            j = closing.end() if closing else i + len(run)
            out.append(text[i:j])
            i = j
            continue
        if text.startswith('\\$', i):
            out.append('&#36;')
            i += 2
            continue
        span_end = math_end(text, i, fail)
        if span_end is not None:
            span = text[i:span_end]
            problem = check_math(span)
            if problem:
                fail(i, problem)
            out.append(PLACEHOLDER.format(len(maths)))
            maths.append(span)
            i = span_end
            continue
        if c == '\\':
            out.append(text[i:i + 2])
            i += 2
            continue
        if c == '<':
            tag = TAG_RE.match(text, i)
            if tag:
                out.append(sanitise(tag, where(i), page, root, path))
                i = tag.end()
                continue
        if c == '!':
            image = IMAGE_RE.match(text, i)
            if image:
                add_image(image.group(1), path, where(i), page, root)
        out.append(c)
        i += 1
    return ''.join(out)


def math_end(text: str, i: int, fail) -> Optional[int]:
    """If a math span starts at `i`, the offset just past its end; an unclosed one is an error."""
    if text.startswith('$$', i):
        j = find_unescaped(text, '$$', i + 2)
        if j < 0:
            fail(i, 'unclosed $$: display math needs a closing $$ (write \\$ for a dollar sign)')
        return j + 2
    if text.startswith('$', i):
        j = find_unescaped(text, '$', i + 1)
        if j < 0 or '\n\n' in text[i:j]:
            fail(i, 'unclosed $ in prose: inline math needs a closing $ in the same paragraph '
                    '(write \\$ for a dollar sign)')
        return j + 1
    for opening, closing in (('\\(', '\\)'), ('\\[', '\\]')):
        if text.startswith(opening, i):
            j = text.find(closing, i + 2)
            if j < 0:
                fail(i, f'unclosed {opening}: math needs a closing {closing}')
            return j + 2
    begin = re.compile(r'\\begin\{([^}]*)\}').match(text, i)
    if begin:
        name = re.escape(begin.group(1))
        depth, pos = 0, i
        for m in re.compile(r'\\(begin|end)\{' + name + r'\}').finditer(text, i):
            depth += 1 if m.group(1) == 'begin' else -1
            pos = m.end()
            if depth == 0:
                return pos
        fail(i, f'unclosed \\begin{{{begin.group(1)}}}: no matching \\end{{{begin.group(1)}}}')
    if text.startswith('\\end{', i):
        fail(i, f'{text[i:text.find("}", i) + 1]} without a matching \\begin')
    return None


def find_unescaped(text: str, needle: str, start: int) -> int:
    """The offset of `needle` at or after `start` that is not preceded by a backslash escape."""
    i = start
    while i < len(text):
        if text[i] == '\\':
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1


def check_math(span: str) -> Optional[str]:
    """What is wrong with a math span's braces or environments (errors MathJax would show in red)."""
    depth = 0
    for m in re.finditer(r'\\.|[{}]', span, re.S):
        depth += {'{': 1, '}': -1}.get(m.group(), 0)
        if depth < 0:
            return f'unbalanced }} in math {span!r}'
    if depth:
        return f'unclosed {{ in math {span!r}'
    environments = []
    for m in re.finditer(r'\\(begin|end)\{([^}]*)\}', span):
        if m.group(1) == 'begin':
            environments.append(m.group(2))
        elif not environments or environments.pop() != m.group(2):
            return f'\\end{{{m.group(2)}}} does not close the open environment in math {span!r}'
    if environments:
        return f'unclosed \\begin{{{environments[-1]}}} in math {span!r}'
    return None


def sanitise(tag: re.Match, origin: Tuple[str, int], page: RenderedPage, root: Path, path: str) -> str:
    """Keep a tag on the allow-list with allowed attributes; escape anything else."""
    name = (tag.group(1) or '').lower()
    allowed = ALLOWED_TAGS.get(name)
    attributes = tag.group(2) or ''
    parsed = list(ATTRIBUTE_RE.finditer(attributes))
    ok = allowed is not None and ''.join(m.group() for m in parsed).strip() == attributes.strip()
    image = None
    for m in parsed if ok else []:
        attribute = m.group(1).lower()
        value = next((v for v in m.group(2, 3, 4) if v is not None), '')
        ok = ok and attribute in allowed | GLOBAL_ATTRIBUTES
        if name == 'img' and attribute == 'src':
            image = html.unescape(value)
    if ok:
        if image is not None:
            add_image(image, path, origin, page, root)
        return tag.group()
    page.warnings.append(f'{origin[0]}:{origin[1]}: HTML {tag.group()[:60]!r} is not on the allow-list; shown as text')
    return html.escape(tag.group(), quote=False)


def add_image(url: str, path: str, origin: Tuple[str, int], page: RenderedPage, root: Path):
    """
    A relative image is copied to the same place relative to the page. Like every URL in
    included Markdown, it is relative to the page `path` that includes it.
    """
    if re.match(r'[A-Za-z][A-Za-z0-9+.-]*:|/', url):
        return
    source = normalise((Path(path).parent / url.split('#')[0].split('?')[0]).as_posix())
    if source is None or not (root / source).is_file():
        raise SiteError(origin[0], origin[1], f'image not found: {url}')
    page.images[source] = source


# ### Code

def highlight(text: str) -> List[str]:
    """
    The whole file through Pygments, then split into one HTML string per source line.
    Neighbouring tokens of the same class share one `<span>`.
    """
    lexer = PythonLexer(stripnl=False, ensurenl=False, tabsize=0)
    lines: List[List[Tuple[str, str]]] = [[]]
    for token_type, value in lexer.get_tokens(text):
        css = css_class(token_type)
        for k, part in enumerate(value.split('\n')):
            if k:
                lines.append([])
            if not part:
                continue
            row = lines[-1]
            if row and row[-1][0] == css:
                row[-1] = (css, row[-1][1] + part)
            else:
                row.append((css, part))
    return [''.join(f'<span class="{css}">{html.escape(part, quote=False)}</span>' if css
                    else html.escape(part, quote=False) for css, part in row) for row in lines]


def highlight_inline(code: str) -> str:
    """Inline code is coloured only when it is a Python expression; `html/` or `make html` stay plain."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            ast.parse(code, mode='eval')
    except (SyntaxError, ValueError):
        return html.escape(code, quote=False)
    return highlight(code)[0]


def css_class(token_type) -> str:
    # An `Error` token is only Pygments not knowing a fragment; no red boxes in prose.
    if token_type in Error:
        return ''
    while token_type not in STANDARD_TYPES:
        token_type = token_type.parent
    return STANDARD_TYPES[token_type]


def code_html(source: Source, section: Section, code_lines: List[str]) -> str:
    """The section's code lines with self-linking numbers; blank lines at either end are dropped."""
    numbers = list(section.code)
    while numbers and not source.lines[numbers[0] - 1].strip():
        numbers.pop(0)
    while numbers and not source.lines[numbers[-1] - 1].strip():
        numbers.pop()
    if not numbers:
        return ''
    rows = [f'<span class="line" id="L{n}"><a class="ln" href="#L{n}">{n}</a>{code_lines[n - 1]}</span>'
            for n in numbers]
    return '<pre class="hl"><code>' + ''.join(rows) + '</code></pre>'


# ### Names and ids

def section_id(section: Section, heading: Optional[str], source: Source, used: set) -> str:
    """
    A permalink that survives edits elsewhere: the `class`/`def` name, else the first heading,
    else a hash of the section's own text.
    """
    if section.name:
        base = section.name
    elif heading:
        base = slug(heading)
    else:
        body = '\n'.join(t for b in section.prose for _, t in b) + '\n'.join(source.lines[n - 1] for n in section.code)
        base = hashlib.sha256(body.encode()).hexdigest()[:8]
    return unique_id('section-' + base, used)


def search_entries(anchor: str, prose: str) -> List[List[str]]:
    """The prose split at its headings, so that a search lands on the heading's own anchor."""
    parts = re.split(r'(<h[1-6] id="[^"]*">.*?</h[1-6]>)', prose, flags=re.S)
    entries = [[anchor, '', plain_text(parts[0])]]
    for heading, body in zip(parts[1::2], parts[2::2]):
        m = re.match(r'<h[1-6] id="([^"]*)">(.*?)</h', heading, re.S)
        entries.append([m.group(1), plain_text(m.group(2)), plain_text(body)])
    return [entry for entry in entries if entry[1] or entry[2]]


def slug(text: str) -> str:
    return re.sub(r'[^\w]+', '-', text.lower()).strip('-') or 'section'


def unique_id(base: str, used: set) -> str:
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f'{base}-{n}'
    used.add(candidate)
    return candidate


def plain_text(fragment: str) -> str:
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', '', fragment))).strip()


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

