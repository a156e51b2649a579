r"""
---
title: Keep TeX away from Markdown
summary: Cuts every math span out of the prose before Markdown runs, checks it, and refuses the TeX macros that can link or style.
---

# TeX

Markdown would eat `\\` row breaks, read `_` as emphasis and `\{` as an escaped brace. So every
math span is cut out before Markdown runs and replaced by a placeholder Markdown cannot touch;
[render](render.html) puts it back afterwards, HTML-escaped, inside `<span class="math">`, and
[typeset](typeset.html) typesets only those spans, so a stray `$` elsewhere is never math.
A `\ref{…}` or `\eqref{…}` in prose is cut out too: it is typeset as a formula of its own, a link
to the numbered equation.

Each span is checked here, before MathJax sees it: braces and environments must balance, and the
macros that reach outside the formula are refused ([`FORBIDDEN_MACROS`](#FORBIDDEN_MACROS)), as
is a colour argument that is not a colour. Each span keeps its file and line, so that an error
MathJax finds later is reported there too.

`extract()` returns values; a problem is recorded with its file and line and the walk goes on, so
one build reports every error of a file.
"""

import functools
import re
from bisect import bisect_right
from typing import List, Optional, Tuple

from site_gen import SiteError

# Math placeholders use private-use characters, which Markdown and the sanitiser leave alone.
PLACEHOLDER = '\ue000{}\ue001'
PLACEHOLDER_RE = re.compile('\ue000(\\d+)\ue001')

# <a id="FORBIDDEN_MACROS"></a>
# TeX macros that MathJax turns into links, CSS, classes, ids, data attributes or font requests:
# `\href{javascript:…}{x}` would be a link that runs script, `\style{background:url(…)}` a request
# to another host. The MathJax configuration leaves out the packages that define most of them
# (`html`, `unicode`, `require`, `setoptions`); refusing them here says so at build time, at the right line.
# `\mmlToken` can set `href`, `style` and `class` on any token, and `\bbox` takes CSS after a colon.
FORBIDDEN_MACROS = {
    'href': 'makes a link', 'class': 'sets a CSS class', 'cssId': 'sets an id', 'style': 'sets CSS',
    'data': 'sets data attributes', 'unicode': 'loads fonts by name', 'require': 'loads MathJax extensions',
    'mmlToken': 'sets arbitrary attributes, href and style included',
    'setOptions': "changes MathJax's own options",
}

# Macros whose first arguments are colours, and how many: MathJax writes a colour into CSS as it
# is, so `\fcolorbox{red;background:url(…)}{…}` would load from another host.
COLOR_MACROS = {'color': 1, 'textcolor': 1, 'colorbox': 1, 'fcolorbox': 2, 'definecolor': 3, 'pagecolor': 1,
                'rowcolor': 1, 'columncolor': 1, 'cellcolor': 1, 'mathcolor': 1}
COLOR_RE = re.compile(r'[\w\s#.,!+-]*')

FENCE_RE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
# Plain text: up to the next character that could start something, across line ends as long as
# the next line does not open a fence (then through that line end only); else an escape pair,
# or a run of dollars whose span was unclosed (reported once, not once per dollar).
TEXT_RE = re.compile(r'[^`$\\\n]+(?:\n(?! {0,3}(?:```|~~~))[^`$\\\n]*)*\n?|\$+|\\.?|.', re.S)
BACKTICKS_RE = re.compile('`+')
# The first `$` or `$$` after a point that is not escaped by a backslash: escape pairs are skipped whole.
UNESCAPED_RE = {'$': re.compile(r'(?:\\.|[^\\$])*+\$', re.S), '$$': re.compile(r'(?:\\.|[^\\$]|\$(?!\$))*+\$\$', re.S)}
BEGIN_RE = re.compile(r'\\begin\{([^}]*)\}')
# `\eqref{name}` and `\ref{name}`: in a formula, a reference to an equation; in prose, a formula
# of its own, as MathJax makes it in a browser (its `processRefs`).
REF_RE = re.compile(r'\\(?:eq)?ref\s*\{([^{}]*)\}')
NEWLINE_RE = re.compile('\n')


def extract(text: str, origins: List[Tuple[str, int]], maths: List[Tuple[str, str, int]],
            errors: List[SiteError]) -> str:
    """
    Walk the Markdown `text` once, skipping code spans and fences, and replace each math span by
    a placeholder; the span, its file and its line are appended to `maths`. `origins[k]` is the
    file and line of the text's line `k`.
    """
    line_starts = [0] + [m.end() for m in NEWLINE_RE.finditer(text)]

    def origin(offset: int) -> Tuple[str, int]:
        return origins[min(bisect_right(line_starts, offset) - 1, len(origins) - 1)]

    def fail(offset: int, message: str):
        errors.append(SiteError(*origin(offset), message))

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
        if text[i] == '`':
            run = BACKTICKS_RE.match(text, i).group()
            closing = closing_backticks(len(run)).search(text, i + len(run))
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
            maths.append((span, *origin(i)))
            i = span_end
            continue
        run = TEXT_RE.match(text, i).group()
        out.append(run)
        i += len(run)
    return ''.join(out)


def math_end(text: str, i: int, fail) -> Optional[int]:
    """
    If a math span starts at `i`, the offset just past its end. An unclosed one is reported,
    and its opening delimiter is then read as text.
    """
    if text.startswith('$$', i):
        j = find_unescaped(text, '$$', i + 2)
        if j < 0:
            return fail(i, 'unclosed $$: display math needs a closing $$ (write \\$ for a dollar sign)')
        return j + 2
    if text.startswith('$', i):
        j = find_unescaped(text, '$', i + 1)
        if j < 0 or '\n\n' in text[i:j]:
            return fail(i, 'unclosed $ in prose: inline math needs a closing $ in the same paragraph '
                           '(write \\$ for a dollar sign)')
        return j + 1
    for opening, closing in (('\\(', '\\)'), ('\\[', '\\]')):
        if text.startswith(opening, i):
            j = text.find(closing, i + 2)
            if j < 0:
                return fail(i, f'unclosed {opening}: math needs a closing {closing}')
            return j + 2
    reference = REF_RE.match(text, i)
    if reference:
        return reference.end()
    begin = BEGIN_RE.match(text, i)
    if begin:
        name = re.escape(begin.group(1))
        depth = 0
        for m in re.compile(r'\\(begin|end)\{' + name + r'\}').finditer(text, i):
            depth += 1 if m.group(1) == 'begin' else -1
            if depth == 0:
                return m.end()
        return fail(i, f'unclosed \\begin{{{begin.group(1)}}}: no matching \\end{{{begin.group(1)}}}')
    if text.startswith('\\end{', i):
        return fail(i, f'{text[i:text.find("}", i) + 1]} without a matching \\begin')
    return None


def find_unescaped(text: str, needle: str, start: int) -> int:
    """The offset of `needle` (`$` or `$$`) at or after `start` that is not preceded by a backslash escape."""
    m = UNESCAPED_RE[needle].match(text, start)
    return m.end() - len(needle) if m else -1


@functools.cache
def closing_backticks(length: int) -> re.Pattern:
    """What closes a code span opened by `length` backticks: a run of exactly as many."""
    return re.compile('(?<!`)' + '`' * length + '(?!`)')


def check_math(span: str) -> Optional[str]:
    """
    What is wrong with a math span: a macro that reaches outside the formula, or braces and
    environments that do not balance (errors MathJax would show in red).
    """
    for m in re.finditer(r'\\([A-Za-z]+|.)', span, re.S):
        name = m.group(1)
        if name in FORBIDDEN_MACROS:
            return f'\\{name} is not allowed in math: it {FORBIDDEN_MACROS[name]} outside the formula'
        if name == 'bbox' and ':' in bracket_argument(span, m.end()):
            return '\\bbox with a CSS style (a `name:` part) is not allowed in math; use a colour and a padding'
        if name in COLOR_MACROS:
            colour = next((a for a in arguments(span, m.end(), COLOR_MACROS[name]) if not COLOR_RE.fullmatch(a)), None)
            if colour is not None:
                return (f'\\{name} takes a colour, and {colour!r} is not one (MathJax would write it into CSS): '
                        f'use a name, numbers or #rrggbb')
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


def arguments(span: str, i: int, count: int) -> List[str]:
    """
    The `[...]` options and the first `count` arguments after offset `i`, read as TeX reads
    them: a `{...}` group, else one character or control sequence.
    """
    found: List[str] = []
    taken = 0
    while taken < count:
        while i < len(span) and span[i] in ' \t\n':
            i += 1
        if i >= len(span):
            break
        if span[i] == '[':
            option = bracket_argument(span, i)
            found.append(option)
            i += len(option) + 2
            continue
        if span[i] == '{':
            depth, j = 0, i
            while j < len(span):
                if span[j] == '\\':
                    j += 2
                    continue
                depth += {'{': 1, '}': -1}.get(span[j], 0)
                if depth == 0:
                    break
                j += 1
            found.append(span[i + 1:j])
            i = j + 1
        else:
            token = re.compile(r'\\[A-Za-z]+|\\?.', re.S).match(span, i).group()
            found.append(token)
            i += len(token)
        taken += 1
    return found


def bracket_argument(span: str, i: int) -> str:
    """The `[...]` argument starting at `i` (after spaces), read as MathJax reads it: braces hide `]`."""
    while i < len(span) and span[i] in ' \t\n':
        i += 1
    if not span.startswith('[', i):
        return ''
    depth, j = 0, i + 1
    while j < len(span):
        c = span[j]
        if c == '\\':
            j += 2
            continue
        if c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
        elif c == ']' and depth == 0:
            return span[i + 1:j]
        j += 1
    return span[i + 1:]
