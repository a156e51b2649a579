r"""
---
title: Readable docstrings
summary: Google and NumPy sections as lists, doctest examples as highlighted code, and reST math typeset, before Markdown sees them.
---

# Docstrings

Most Python projects do not write their docstrings in Markdown. torch, like most libraries,
uses Google-style sections and reStructuredText:

```text
Args:
    lr (float): learning rate :math:`\alpha`. Default: 1e-3.
    betas (Tuple[float, float]): coefficients for the running averages.

Example:
    >>> scheduler = StepLR(optimizer, step_size=30)

.. math::
    \theta_t = \theta_{t-1} - \gamma g_t
```

Read as Markdown, the `Args:` entries run together into one paragraph, the example is text,
and the math stays raw. `readable()` rewrites such a prose block into the Markdown it means,
line by line, before math is cut out and Markdown runs:

* a section header (`Args:`, `Returns:`, `Raises:`, `Example:`, ..., or NumPy's `Parameters`
  over a line of dashes) becomes a bold line, and its entries a list: `` `lr` (float): ... ``;
* a run of `>>>` lines, with their `...` continuations and output, becomes a `pycon` code block;
* `.. math::` becomes display math `$$...$$`, `:math:`x`` inline math `$x$`, and the
  cross-reference roles (`:class:`~torch.Tensor``, `:func:`, `:attr:`, ...) inline code;
* `.. note::` and `.. warning::` become a bold **Note** or **Warning** and their text.

Every line keeps the number of the source line it came from; a line added for Markdown's sake
(a blank line, a fence) takes its neighbour's, so errors and warnings still name the right line.
Prose already written in Markdown, like this repository's, has none of these shapes and passes
through unchanged.
"""

import re
from typing import List, Tuple

ProseLine = Tuple[int, str]

# Google-style section headers; the ones whose body is a list of `name (type): text` entries.
SECTIONS = ('Args', 'Arguments', 'Parameters', 'Params', 'Keyword Args', 'Keyword Arguments', 'Other Parameters',
            'Attributes', 'Returns', 'Return', 'Yields', 'Yield', 'Raises', 'Raise', 'Warns', 'Examples',
            'Example', 'Note', 'Notes', 'Warning', 'Warnings', 'See Also', 'References', 'Todo')
ENTRY_SECTIONS = ('Args', 'Arguments', 'Parameters', 'Params', 'Keyword Args', 'Keyword Arguments',
                  'Other Parameters', 'Attributes', 'Raises', 'Raise', 'Warns')
GOOGLE_RE = re.compile(r'( *)(' + '|'.join(SECTIONS) + r'):\s*$')
NUMPY_RE = re.compile(r'( *)(' + '|'.join(SECTIONS) + r')\s*$')
# `lr (float, optional): text`, `*args: text`, or NumPy's `lr : float, optional`.
GOOGLE_ENTRY_RE = re.compile(r'(\*{0,2}[A-Za-z_][\w.]*)\s*(?:\(([^()]*)\))?\s*:(?:\s+(.*)|$)')
NUMPY_ENTRY_RE = re.compile(r'(\*{0,2}[A-Za-z_][\w., ]*?)\s+:\s+(.*)$')
MATH_DIRECTIVE_RE = re.compile(r'( *)\.\. math::\s*(.*)$')
ADMONITION_RE = re.compile(r'( *)\.\. (note|warning|tip|important|hint|caution|seealso)::\s*(.*)$')
ROLE_RE = re.compile(r':(?:py:)?(math|class|func|meth|attr|mod|obj|data|exc|const|ref|doc|term|mat):`([^`]+)`')
DOCTEST_RE = re.compile(r' *>>>( |$)')
FENCE_RE = re.compile(r' {0,3}(```|~~~)')


def readable(block: List[ProseLine]) -> List[ProseLine]:
    """The prose block `block` with its docstring conventions rewritten into Markdown."""
    lines = directives(block)
    lines = sections(lines)
    lines = doctests(lines)
    return roles(lines)


def indent(text: str) -> int:
    return len(text) - len(text.lstrip(' '))


def body_end(lines: List[ProseLine], start: int, margin: int) -> int:
    """The end of the indented body that starts at `start`: lines deeper than `margin`, or blank."""
    end = start
    while end < len(lines) and (not lines[end][1].strip() or indent(lines[end][1]) > margin):
        end += 1
    while end > start and not lines[end - 1][1].strip():
        end -= 1
    return end


def dedented(lines: List[ProseLine]) -> List[ProseLine]:
    margin = min((indent(text) for _, text in lines if text.strip()), default=0)
    return [(n, text[margin:]) for n, text in lines]


def paragraph(out: List[ProseLine], number: int):
    """A blank line before what comes next, unless there is one already."""
    if out and out[-1][1].strip():
        out.append((number, ''))


# ## reST directives: math and admonitions

def directives(lines: List[ProseLine]) -> List[ProseLine]:
    out: List[ProseLine] = []
    i = 0
    while i < len(lines):
        number, text = lines[i]
        math, note = MATH_DIRECTIVE_RE.fullmatch(text), ADMONITION_RE.fullmatch(text)
        if not (math or note):
            out.append(lines[i])
            i += 1
            continue
        margin = indent(text)
        end = body_end(lines, i + 1, margin)
        body = [line for line in dedented(lines[i + 1:end]) if line[1].strip() or note]
        paragraph(out, number)
        if math:
            inline = math.group(2).strip()
            formula = ([(number, inline)] if inline else []) + body
            out += [(number, '$$')] + [(n, t) for n, t in formula] + [(formula[-1][0] if formula else number, '$$')]
        else:
            first = note.group(3).strip()
            out += [(number, f'**{note.group(2).capitalize()}**' + (f' {first}' if first else ''))] + body
        out.append((lines[end - 1][0] if end > i + 1 else number, ''))
        i = end
    return out


# ## Google and NumPy sections

def sections(lines: List[ProseLine]) -> List[ProseLine]:
    out: List[ProseLine] = []
    i = 0
    while i < len(lines):
        number, text = lines[i]
        google = GOOGLE_RE.fullmatch(text)
        numpy = numpy_header(lines, i)
        if google and i + 1 < len(lines) and indent(lines[i + 1][1]) > indent(text):
            end = body_end(lines, i + 1, indent(text))
            body, name = dedented(lines[i + 1:end]), google.group(2)
        elif numpy:
            # A NumPy section runs to the next header; its entries sit at the header's margin.
            end = i + 2
            while end < len(lines) and not numpy_header(lines, end):
                end += 1
            while end > i + 2 and not lines[end - 1][1].strip():
                end -= 1
            body, name = dedented(lines[i + 2:end]), numpy.group(2)
        else:
            out.append(lines[i])
            i += 1
            continue
        paragraph(out, number)
        # The header, and a blank line so that Markdown starts the list (NumPy's underline goes).
        out += [(number, f'**{name}**'), (lines[i + 1][0] if numpy else number, '')]
        listed = name in ENTRY_SECTIONS or (numpy and name in ('Returns', 'Yields'))
        out += entries(body, numpy is not None) if listed else body
        out.append((lines[end - 1][0], ''))
        i = end
    return out


def numpy_header(lines: List[ProseLine], k: int):
    """The match of a NumPy section header at line `k`: a known name over a line of dashes."""
    if k + 1 < len(lines) and re.fullmatch(r' *-{3,} *', lines[k + 1][1]):
        return NUMPY_RE.fullmatch(lines[k][1])
    return None


def entries(body: List[ProseLine], numpy: bool) -> List[ProseLine]:
    """`name (type): text` lines at the body's margin become list items; deeper lines continue them."""
    out: List[ProseLine] = []
    for number, text in body:
        google = GOOGLE_ENTRY_RE.fullmatch(text) if not numpy else None
        numpy_entry = NUMPY_ENTRY_RE.fullmatch(text) if numpy else None
        plain = numpy and re.fullmatch(r'\*{0,2}[A-Za-z_][\w.]*', text)
        if text[:1] != ' ' and (google or numpy_entry or plain):
            if google:
                name, kind, rest = google.group(1), google.group(2), google.group(3) or ''
            elif numpy_entry:
                name, kind, rest = numpy_entry.group(1), numpy_entry.group(2), ''
            else:
                name, kind, rest = text, None, ''
            item = f'* `{name}`' + (f' ({kind})' if kind else '') + (f': {rest}' if rest else ':' if numpy else '')
            out.append((number, item))
        elif text.strip():
            out.append((number, '  ' + text.strip()))
        else:
            out.append((number, ''))
    return out


# ## Doctest examples

def doctests(lines: List[ProseLine]) -> List[ProseLine]:
    out: List[ProseLine] = []
    fenced = False
    i = 0
    while i < len(lines):
        number, text = lines[i]
        if FENCE_RE.match(text):
            fenced = not fenced
        if fenced or not DOCTEST_RE.match(text):
            out.append(lines[i])
            i += 1
            continue
        margin = indent(text)
        end = i + 1
        while end < len(lines) and lines[end][1].strip() and indent(lines[end][1]) >= margin:
            end += 1
        paragraph(out, number)
        out += [(number, '```pycon')] + [(n, t[margin:]) for n, t in lines[i:end]] + [(lines[end - 1][0], '```')]
        out.append((lines[end - 1][0], ''))
        i = end
    return out


# ## Inline roles

def roles(lines: List[ProseLine]) -> List[ProseLine]:
    out: List[ProseLine] = []
    fenced = False
    for number, text in lines:
        if FENCE_RE.match(text):
            fenced = not fenced
        out.append((number, text if fenced else ROLE_RE.sub(role, text)))
    return out


def role(m) -> str:
    kind, target = m.group(1), m.group(2)
    if kind == 'math':
        return f'${target}$'
    label = re.match(r'(.*?)\s*<[^>]*>$', target)
    if label:
        return f'`{label.group(1)}`'
    return f'`{target.lstrip("~").rsplit(".", 1)[-1]}`' if target.startswith('~') else f'`{target}`'
