"""
---
title: Parse source text into sections
summary: Splits a Python or Markdown file into sections of prose and code, keeping every source line exactly once.
---

# Parse

A page is a list of *sections*. Each pairs prose (Markdown from comments and docstrings) with the
code lines it explains. Prose is read from the source text through its tokens and `ast` positions,
never from `__doc__`: Python's escapes would turn `\frac` into a form feed and `\theta` into a tab.

**Invariant.** Every source line lands exactly once, either in some section's prose or in its code;
within a section both lists are in source order, and every line of a section comes before every
line of the next one. Code lines are kept as line numbers, so the page shows the original numbers.
"""

import ast
import re
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import yaml

from site_gen import SiteError

# libyaml's safe loader where PyYAML was built with it: the same documents, several times faster.
YAML_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
# The keys front matter may have; anything else is a typo that would silently vanish.
FRONT_MATTER_KEYS = ('title', 'summary')

# The fields of `ast` nodes that hold statements (`handlers` and `cases` hold nodes that do).
STATEMENT_LISTS = ('body', 'orelse', 'finalbody', 'handlers', 'cases')

# A prose line: its source line number and its Markdown text.
ProseLine = Tuple[int, str]


@dataclass
class Section:
    """
    * `prose` is a list of blocks (a comment run or a docstring), each a list of prose lines;
      blocks are separate Markdown paragraphs
    * `code` is the list of the code's source line numbers
    * `name` is the qualified name of a `class`/`def` whose header is in `code`, used for a
      permalink that does not move when other sections are edited
    """
    prose: List[List[ProseLine]] = field(default_factory=list)
    code: List[int] = field(default_factory=list)
    name: Optional[str] = None


@dataclass
class Source:
    """
    A parsed file: its lines, front matter and sections, and the problems found in its front
    matter: `errors` stop its page from being built, `warnings` do not. A Python file keeps its
    tokens, from which [highlight](highlight.html) colours it.
    """
    path: str
    text: str
    lines: List[str]
    title: Optional[str]
    summary: str
    sections: List[Section]
    is_python: bool
    errors: List[SiteError] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    tokens: List[Tuple[str, str, int]] = field(default_factory=list)


def parse(path: str, data: bytes) -> Source:
    """
    Parse the file `path` (used in messages) with contents `data`.
    Python files are split into sections; anything else is Markdown, one section of prose.
    A file that cannot be read at all (not UTF-8, a syntax error, empty) raises `SiteError`.
    """
    text = decode(path, data)
    if not text.strip():
        raise SiteError(path, 1, 'empty file: a page needs at least a docstring or some prose')
    lines = text.split('\n')
    if text.endswith('\n'):
        lines.pop()
    tokens = []
    if path.endswith('.py'):
        kinds, names, tokens = classify_python(path, text, lines)
        sections = group_sections(lines, kinds, names)
    else:
        sections = [Section(prose=[[(n, line) for n, line in enumerate(lines, 1)]])]
    source = Source(path, text, lines, None, '', sections, path.endswith('.py'), tokens=tokens)
    source.title, source.summary = front_matter(source)
    return source


def decode(path: str, data: bytes) -> str:
    """
    Strict UTF-8, with the line and byte of the first bad byte in the message. Line ends become
    `\n` and a byte-order mark is dropped, so lines are numbered as Python numbers them.
    """
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        line = data.count(b'\n', 0, e.start) + 1
        raise SiteError(path, line, f'not UTF-8: byte 0x{data[e.start]:02x} at offset {e.start} '
                                    f'({e.reason}); save the file as UTF-8') from None
    return text.removeprefix('\ufeff').replace('\r\n', '\n').replace('\r', '\n')


# ## Scanning Python
#
# `ast` has no comments, so the source is also cut into tokens (comments, strings, names,
# numbers, operators, line ends, spaces) by one regular expression in one pass; the standard
# `tokenize` is a loop in Python, and twice as slow. The file has already parsed, so the tokens
# only need to be right for valid Python. Each is `(kind, text, start)`, `start` its offset in
# the text; [highlight](highlight.html) colours the page from them.

STRING = (r'(?:[rRbBuUfF]{1,2})?'
          r"(?:'''(?:[^'\\]+|\\[\s\S]|'(?!''))*'''"
          r'|"""(?:[^"\\]+|\\[\s\S]|"(?!""))*"""'
          r"|'(?:[^'\\\n]+|\\[\s\S])*'"
          r'|"(?:[^"\\\n]+|\\[\s\S])*")')
NUMBER = (r'0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+'
          r'|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?')
OPERATOR = r'\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@<>=!]=|[-+*/%&|^~<>@=.,:;()\[\]{}]'
TOKEN_RE = re.compile(rf'(?P<comment>#[^\n]*)|(?P<string>{STRING})|(?P<name>[^\W\d]\w*)|(?P<number>{NUMBER})'
                      rf'|(?P<op>{OPERATOR})|(?P<newline>\n)|(?P<space>[ \t\f]+|\\\n)|(?P<other>.)', re.S)
OPENING, CLOSING = set('([{'), set(')]}')
NEWLINE_RE = re.compile('\n')
Token = Tuple[str, str, int]


def scan(text: str) -> List[Token]:
    return [(m.lastgroup, m.group(), m.start()) for m in TOKEN_RE.finditer(text)]


def line_starts(text: str) -> List[int]:
    """The offset of each line's first character: line `n` starts at `starts[n - 1]`."""
    return [0] + [m.end() for m in NEWLINE_RE.finditer(text)]


# ## Classifying Python lines
#
# Each line is `code`, `comment` (a full-line comment outside any bracket) or part of a
# docstring. Docstrings are found by `ast`, but their text is cut from the source by the
# positions of their string token.

def classify_python(path: str, text: str, lines: List[str]):
    """
    Return `kinds`, mapping a line number to `('comment', markdown)` or
    `('doc', markdown, owner_header_line)`, absent for code; `names`, mapping the first line
    of each `class`/`def` (decorators included) to its qualified name; and the tokens.
    """
    try:
        # Invalid escapes such as `\e` warn in `__doc__`, which we never read.
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        raise SiteError(path, e.lineno or 1, f'syntax error: {e.msg}') from None
    tokens = scan(text)

    kinds: Dict[int, tuple] = {}
    depth = 0
    strings = {}
    starts = line_starts(text)
    for kind, string, start in tokens:
        if kind == 'op' and string in OPENING:
            depth += 1
        elif kind == 'op' and string in CLOSING:
            depth -= 1
        elif kind == 'string':
            row = bisect_right(starts, start)
            strings[(row, start - starts[row - 1])] = string
        elif kind == 'comment' and depth == 0:
            row = bisect_right(starts, start)
            # A shebang or encoding line is for the interpreter, not the reader.
            if (lines[row - 1][:start - starts[row - 1]].strip()
                    or row <= 2 and (string.startswith('#!') or re.match(r'#.*coding[:=]', string))):
                continue
            body = string[1:]
            kinds[row] = ('comment', body[1:] if body.startswith(' ') else body)

    # A `class` or `def` is a statement, so only statements are walked, not expressions.
    names = {}
    owners = [(tree, None)]
    stack = [(tree, '')]
    while stack:
        node, prefix = stack.pop()
        for field_name in STATEMENT_LISTS:
            for child in getattr(node, field_name, ()):
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                    names[start] = prefix + child.name
                    owners.append((child, start))
                    stack.append((child, prefix + child.name + '.'))
                else:
                    stack.append((child, prefix))

    for node, header in owners:
        doc = docstring_lines(node, strings, lines)
        if doc:
            for row, line in doc:
                kinds[row] = ('doc', line, header)
    return kinds, names, tokens


def docstring_lines(node, strings, lines: List[str]) -> Optional[List[ProseLine]]:
    """
    The docstring of `node` as dedented prose lines, or `None` when it has none, or when it
    shares a line with code (then it stays in the code, where the reader sees it).
    """
    body = getattr(node, 'body', None)
    if not body or not isinstance(body[0], ast.Expr):
        return None
    value = body[0].value
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return None
    # (`ast` counts columns in UTF-8 bytes and the scanner in characters; they agree here, where
    # only spaces come before the string.)
    string = strings.get((value.lineno, value.col_offset))
    if string is None:
        return None
    srow, scol = value.lineno, value.col_offset
    erow = srow + string.count('\n')
    ecol = len(string.rsplit('\n', 1)[-1]) if erow > srow else scol + len(string)
    # Implicitly concatenated strings are not one token; leave them as code. A second string on
    # the last line fails the second check.
    if erow != value.end_lineno or lines[srow - 1][:scol].strip() or lines[erow - 1][ecol:].strip():
        return None

    prefix = re.match(r'[rRuUbBfF]*', string).group()
    quote = string[len(prefix):len(prefix) + 3]
    quote = quote if quote in ('"""', "'''") else quote[0]
    raw = string[len(prefix) + len(quote):-len(quote)].split('\n')
    # The same dedent as `inspect.cleandoc`, without dropping lines.
    indents = [len(line) - len(line.lstrip()) for line in raw[1:] if line.strip()]
    margin = min(indents, default=0)
    text = [raw[0].strip()] + [line[margin:].rstrip() for line in raw[1:]]
    return list(zip(range(srow, erow + 1), text))


# ## Grouping lines into sections
#
# A new section starts where prose starts, unless the current section has no code yet other
# than blank lines: then the prose joins it, so blank lines never make empty sections.
# A `class`/`def` docstring becomes the prose of the section whose code is the header.

def group_sections(lines: List[str], kinds: Dict[int, tuple], names: Dict[int, str]) -> List[Section]:
    sections: List[Section] = []

    def has_code(section: Section, before: Optional[int] = None) -> bool:
        return any(lines[n - 1].strip() for n in section.code if before is None or n < before)

    def add_prose(block: List[ProseLine]):
        if not sections or has_code(sections[-1]):
            sections.append(Section())
        sections[-1].prose.append(block)

    def add_docstring(block: List[ProseLine], header: int):
        current = sections[-1]
        if has_code(current, before=header):
            header_code = [n for n in current.code if n >= header]
            current.code = [n for n in current.code if n < header]
            sections.append(Section(code=header_code))
        sections[-1].prose.append(block)

    n = 1
    while n <= len(lines):
        kind = kinds.get(n)
        if kind is None:
            if not sections:
                sections.append(Section())
            sections[-1].code.append(n)
            n += 1
            continue
        block = []
        while n <= len(lines) and kinds.get(n, (None,))[0] == kind[0] and kinds[n][2:] == kind[2:]:
            block.append((n, kinds[n][1]))
            n += 1
        if kind[0] == 'doc' and kind[2] is not None:
            add_docstring(block, kind[2])
        else:
            add_prose(block)

    for section in sections:
        section.name = next((names[n] for n in section.code if n in names), None)
    return sections


# ## Front matter
#
# The first prose block may open with YAML between two `---` lines. Its `title` and `summary`
# become the page title, the meta description and the index entry; its lines are blanked so the
# reader does not see them, but they still count as prose for the invariant. Another key is a
# warning: it may be meant for another tool (labml_nn's pages carry `redirect:`), or be a typo.

def front_matter(source: Source) -> Tuple[Optional[str], str]:
    path, sections = source.path, source.sections
    block = next((b for s in sections for b in s.prose), None)
    first_heading = None
    for section in sections:
        for b in section.prose:
            for _, line in b:
                m = re.match(r'#\s+(.+?)\s*#*$', line)
                if m and first_heading is None:
                    first_heading = m.group(1)
    if block is None:
        return first_heading, ''
    texts = [line for _, line in block]
    start = next((i for i, line in enumerate(texts) if line.strip()), None)
    if start is None or texts[start].strip() != '---':
        return first_heading, ''
    end = next((i for i in range(start + 1, len(texts)) if texts[i].strip() == '---'), None)
    if end is None:
        source.errors.append(SiteError(path, block[start][0], "front matter opened with '---' is never closed"))
        return first_heading, ''
    block[start:end + 1] = [(n, '') for n, _ in block[start:end + 1]]
    try:
        meta = yaml.load('\n'.join(texts[start + 1:end]), Loader=YAML_LOADER) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        line = block[start + 1 + mark.line][0] if mark else block[start][0]
        source.errors.append(SiteError(path, line, f'front matter is not valid YAML: {getattr(e, "problem", e)}'))
        return first_heading, ''
    if not isinstance(meta, dict):
        source.errors.append(SiteError(path, block[start][0], 'front matter must be `key: value` lines'))
        return first_heading, ''
    for i in range(start + 1, end):
        key = texts[i].split(':', 1)[0].strip()
        if texts[i][:1] not in ' \t#' and key and key not in FRONT_MATTER_KEYS:
            source.warnings.append(f'{path}:{block[i][0]}: unknown front-matter key {key!r} ignored '
                                   f'(known: {", ".join(FRONT_MATTER_KEYS)})')
    for key in FRONT_MATTER_KEYS:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            source.errors.append(SiteError(path, block[start][0], f'front matter needs a one-line `{key}:`'))
    if source.errors:
        return first_heading, ''
    return meta['title'].strip(), meta['summary'].strip()
