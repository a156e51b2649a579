r"""
---
title: Render sections to HTML
summary: Markdown with math kept byte for byte, the parsed HTML allow-listed, and code highlighted as one file.
---

# Render

Prose goes through four steps, each a function that returns a value (in Python sources,
[docstrings](docstrings.html) first rewrites Google/NumPy sections, doctests and reST math into
Markdown):

1. [tex](tex.html) cuts every math span out, so that Markdown cannot mangle it;
2. Markdown turns the rest into HTML;
3. [sanitise](sanitise.html) parses that HTML as a browser would and keeps only what is on its
   allow-list, so that no HTML written in a docstring can run script or load from another host;
4. our own additions go in: the math spans (HTML-escaped, inside `<span class="math">`, for
   [typeset](typeset.html)), highlighted code, heading ids, links to source files turned into
   links to their pages. They are applied to the sanitiser's output, whose serialisation is
   regular (every attribute in double quotes), not to anything a person wrote.

**Code is [highlighted](highlight.html) as a whole file**, from the parser's tokens, so a
multi-line string is coloured right, and then split into lines that keep their numbers.

Problems are recorded in the page (`errors` and `warnings`, each naming its file and line), and
rendering goes on, so that a build reports every error of every file.
"""

import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import markdown
from markdown.extensions.fenced_code import FencedCodeExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension

from site_gen import SiteError, highlight
from site_gen.docstrings import readable
from site_gen.parse import Section, Source
from site_gen.paths import normalise, relative_url, within
from site_gen.sanitise import sanitise, url_problem
from site_gen.tex import PLACEHOLDER_RE, extract

INCLUDE_RE = re.compile(r'\[\[include:\s*(.+?)\s*\]\]')
# Control characters other than tab have no place in prose; in math they are a `\b` or `\f`
# that some tool turned into a backspace or form feed. The two private-use characters that mark
# math placeholders may not be written by hand either.
CONTROL_RE = re.compile('[\x00-\x08\x0b-\x1f\x7f\ue000\ue001]')
# A tag in the sanitiser's output: attribute values are always in double quotes there.
TAG_RE = re.compile(r'(<[^"<>]*(?:"[^"]*"[^"<>]*)*>)')
URL_ATTRIBUTE_RE = re.compile(r'<(a|img)\b[^"<>]*(?:"[^"]*"[^"<>]*)*>')
FENCED_RE = re.compile(r'<pre><code(?: class="language-([\w+-]+)")?>(.*?)</code></pre>', re.S)


# Markdown's own inline patterns, each with the text it cannot match without (any one of them):
# code, escapes, links and images, autolinks and raw HTML, entities, emphasis, and a line break
# (two spaces at a line end).
INLINE_NEEDS = {'backtick': ('`',), 'escape': ('\\',), 'reference': ('[',), 'link': ('[',), 'short_reference': ('[',),
                'image_link': ('![',), 'image_reference': ('![',), 'short_image_ref': ('![',),
                'autolink': ('<',), 'automail': ('<',), 'html': ('<',), 'entity': ('&',),
                'em_strong': ('*', '_'), 'not_strong': ('*', '_'), 'em_strong2': ('_',), 'linebreak': ('  \n',)}
INLINE_START_RE = re.compile('|'.join(sorted({re.escape(needle) for needles in INLINE_NEEDS.values() for needle in needles})))


class SkipPlainText(markdown.treeprocessors.InlineProcessor):
    """
    Markdown's inline processor, which tries each of its patterns on every run of text, each
    pattern with a search of its regular expression. Two runs in three have none of the text a
    pattern needs, and come back unchanged without the tries; in the others, a pattern is only
    tried if its own text is there. It is used only with Markdown's own patterns (`INLINE_NEEDS`).
    """

    def __init__(self, md: markdown.Markdown):
        super().__init__(md)
        self.needs = {id(md.inlinePatterns[name]): INLINE_NEEDS[name] for name in md.inlinePatterns._data}

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
        if not INLINE_START_RE.search(data):
            return data
        return super()._InlineProcessor__handleInline(data, patternIndex)

    def _InlineProcessor__applyPattern(self, pattern, data: str, patternIndex: int, startIndex: int = 0):
        if any(needle in data for needle in self.needs[id(pattern)]):
            return super()._InlineProcessor__applyPattern(pattern, data, patternIndex, startIndex)
        return data, False, 0


@dataclass
class RenderedSection:
    """
    One section as HTML, with its prose split at headings as `[anchor, heading, text]` for search,
    and the first and last line of the code it shows (0 when it has none).
    """
    id: str
    prose: str
    code: str
    search: List[List[str]]
    first_line: int = 0
    last_line: int = 0


@dataclass
class RenderedPage:
    """
    * `deps` are the files the page read besides its source (includes and images)
    * `images` maps an image's source path to its path in the output, both relative to the root
    * `errors` are the problems that stop the page from being built, `warnings` the ones that do not
    * `maths` are the page's formulas, each with its file and line, for [typeset](typeset.html)
    """
    sections: List[RenderedSection]
    maths: List[Tuple[str, str, int]] = field(default_factory=list)
    deps: List[str] = field(default_factory=list)
    images: Dict[str, str] = field(default_factory=dict)
    errors: List[SiteError] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


class Renderer:
    """
    * `root` is the directory that source paths are relative to
    * `page_for` maps a source path to its page's output path, or `None`; links to a source
      file in prose (`[adam.py](adam.py)`) become links to its page
    * `remote_images` lets images load from `https` URLs; otherwise they must be files in the tree
    """

    def __init__(self, root: Path, page_for: Callable[[str], Optional[str]], remote_images: bool = False):
        self.root = root
        self.page_for = page_for
        self.remote_images = remote_images
        # Extensions as objects, not names: a name is looked up among every installed package's entry points.
        self.md = markdown.Markdown(extensions=[FencedCodeExtension(), TableExtension(use_align_attribute=True),
                                                SaneListExtension()])
        if set(self.md.inlinePatterns._data) <= INLINE_NEEDS.keys():
            self.md.treeprocessors.register(SkipPlainText(self.md), 'inline', 20)

    def render(self, source: Source) -> RenderedPage:
        page = RenderedPage(sections=[])
        code_lines = highlight.python(source.text, source.tokens) if source.is_python else []
        used_ids: set = set()
        for section in source.sections:
            prose_html = self.prose(source.path, section, page, used_ids, source.is_python)
            headings = re.findall(r'<h[1-6] id="[^"]*">(.*?)</h[1-6]>', prose_html, re.S)
            heading = plain_text(headings[0]) if headings else None
            anchor = section_id(section, heading, source, used_ids)
            shown = shown_lines(source, section)
            page.sections.append(RenderedSection(id=anchor, prose=prose_html, code=code_html(shown, code_lines),
                                                 search=search_entries(anchor, prose_html),
                                                 first_line=shown[0] if shown else 0, last_line=shown[-1] if shown else 0))
        page.deps = sorted(set(page.deps) | set(page.images))
        return page

    # ### Prose

    def prose(self, path: str, section: Section, page: RenderedPage, used_ids: set, docstrings: bool) -> str:
        """
        Markdown of the section's prose blocks, includes expanded, to safe HTML. In Python
        sources, Google/NumPy sections, doctests and reST math are rewritten first.
        """
        lines: List[str] = []
        origins: List[Tuple[str, int]] = []
        for block in section.prose:
            if lines:
                lines.append('')
                origins.append(origins[-1])
            for number, text in readable(block) if docstrings else block:
                self.expand(path, number, text, lines, origins, page, ())
        if not lines:
            return ''
        maths: List[Tuple[str, str, int]] = []
        text = extract('\n'.join(lines), origins, maths, page.errors)
        page.maths += maths
        self.md.reset()
        out, removed = sanitise(self.md.convert(text), self.remote_images)
        page.warnings += ['{}:{}: {}'.format(*where(needle, lines, origins), note) for needle, note in removed]
        out = highlight_fences(out)
        out = re.sub(r'(?<!<pre>)<code>([^<]*)</code>',
                     lambda m: f'<code class="hl">{highlight.inline(html.unescape(m.group(1)))}</code>', out)
        out = restore_math(out, maths)
        out = re.sub(r'<h([1-6])>(.*?)</h\1>',
                     lambda m: f'<h{m.group(1)} id="{unique_id(slug(plain_text(m.group(2))), used_ids)}">{m.group(2)}</h{m.group(1)}>',
                     out, flags=re.S)
        out = URL_ATTRIBUTE_RE.sub(lambda tag: re.sub(
            r'\b(href|src)="([^"]*)"', lambda m: self.url(tag.group(1), m, path, page, lines, origins), tag.group()), out)
        # Images load when they come near the screen: a page's load does not wait for plots
        # further down (a large SVG takes longer to parse than the rest of the page).
        return out.replace('<img ', '<img loading="lazy" ')

    def expand(self, path, number, text, lines, origins, page, seen):
        """Append one prose line, or the lines of the Markdown file it includes."""
        control = CONTROL_RE.search(text)
        if control:
            hint = ('the generator uses it to mark math' if control.group() in '\ue000\ue001' else
                    'a `\\b` or `\\f` turned into a byte by a tool? write the backslash in the source')
            page.errors.append(SiteError(path, number, f'character U+{ord(control.group()):04X} is not allowed in prose '
                                                       f'(column {control.start() + 1}): {hint}'))
            text = CONTROL_RE.sub(' ', text)
        m = INCLUDE_RE.fullmatch(text.strip())
        if not m:
            lines.append(text)
            origins.append((path, number))
            return
        target = normalise((Path(path).parent / m.group(1)).as_posix())
        full = self.root / target if target else None
        if target is None or not within(self.root, full):
            problem = f'include {m.group(1)} points outside the source tree'
        elif not full.is_file():
            problem = f'include file not found: {m.group(1)} (looked for {target})'
        elif target in seen:
            problem = f'include cycle: {" -> ".join(seen + (target,))}'
        else:
            try:
                included = full.read_bytes().decode('utf-8')
            except UnicodeDecodeError:
                problem = f'include file {target} is not UTF-8'
            else:
                page.deps.append(target)
                for k, line in enumerate(included.splitlines(), 1):
                    self.expand(target, k, line, lines, origins, page, seen + (target,))
                return
        page.errors.append(SiteError(path, number, problem))

    def url(self, tag: str, m, path: str, page: RenderedPage, lines, origins) -> str:
        """
        Record a relative image, which must exist; rewrite a link to a source file into a link
        to its page. The sanitiser has already removed every URL that may not reach a page;
        `url_problem` is asked again so that a gap there cannot become a gap here.
        """
        attribute, value = m.group(1), html.unescape(m.group(2))
        if url_problem(tag, attribute, value, self.remote_images):
            return ''
        relative = not re.match(r'[A-Za-z][A-Za-z0-9+.-]*:|/', value)
        if tag == 'img' and relative:
            source = normalise((Path(path).parent / value.split('#')[0].split('?')[0]).as_posix())
            if source is not None and not within(self.root, self.root / source):
                page.errors.append(SiteError(*where(value, lines, origins), f'image {value} leads outside the source tree'))
            elif source is None or not (self.root / source).is_file():
                page.errors.append(SiteError(*where(value, lines, origins), f'image not found: {value}'))
            else:
                page.images[source] = source
        elif tag == 'a' and relative and not value.startswith('#'):
            target, _, fragment = value.partition('#')
            page_url = self.page_for(normalise((Path(path).parent / target).as_posix()))
            if page_url:
                value = relative_url(self.page_for(path), page_url) + (f'#{fragment}' if fragment else '')
        return f'{attribute}="{html.escape(value)}"'


def where(needle: str, lines: List[str], origins: List[Tuple[str, int]]) -> Tuple[str, int]:
    """
    The file and line of the first prose line that contains `needle` (a tag, an attribute, a URL),
    for messages about HTML, which Markdown has already joined into one string; else the
    block's first line.
    """
    for variant in (needle, html.escape(needle), html.escape(needle, quote=False)):
        for text, origin in zip(lines, origins):
            if variant.lower() in text.lower():
                return origin
    return origins[0]


def restore_math(fragment: str, maths: List[Tuple[str, str, int]]) -> str:
    """
    Put each math span back: as `<span class="math">` in text, and as escaped text inside an
    attribute (a `title` or URL that happened to contain dollars), where a tag would not belong.
    """
    def text(m):
        return f'<span class="math">{html.escape(maths[int(m.group(1))][0], quote=False)}</span>'

    def attribute(m):
        return html.escape(maths[int(m.group(1))][0])

    if '\ue000' not in fragment:
        return fragment
    parts = TAG_RE.split(fragment)
    return ''.join(PLACEHOLDER_RE.sub(attribute if k % 2 else text, part) for k, part in enumerate(parts))


# ### Code

def highlight_fences(fragment: str) -> str:
    """
    Fenced code blocks, coloured by the language their fence names (one the sanitiser allows);
    a block without a language stays plain. The highlighter gets the text, not the HTML, and escapes it.
    """
    def fence(m):
        language, code = m.group(1), html.unescape(m.group(2))
        body = '\n'.join(highlight.code(code, language)) if language else html.escape(code, quote=False)
        return f'<div class="hl"><pre><code>{body}</code></pre></div>'

    return FENCED_RE.sub(fence, fragment)


def shown_lines(source: Source, section: Section) -> List[int]:
    """The numbers of the section's code lines that are shown: blank lines at either end are dropped."""
    numbers = list(section.code)
    while numbers and not source.lines[numbers[0] - 1].strip():
        numbers.pop(0)
    while numbers and not source.lines[numbers[-1] - 1].strip():
        numbers.pop()
    return numbers


def code_html(numbers: List[int], code_lines: List[str]) -> str:
    """The code lines `numbers` with self-linking numbers."""
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
