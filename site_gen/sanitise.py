"""
---
title: Sanitise the HTML of prose
summary: An allow-list of tags, attributes and URL schemes applied by nh3 to the HTML that Markdown produced.
---

# Sanitise

Prose is written by people, and a docstring can carry HTML. The safe way to let some of it through
is to **parse once and allow-list the parsed result**: Markdown turns the prose into HTML, and
[nh3](https://pypi.org/project/nh3/) (the Python binding of the Rust sanitiser `ammonia`, built on
the HTML5 parser that browsers specify) parses that HTML as a browser would and keeps only the
tags, attributes and URLs listed here. Nothing tries to guess how Markdown tokenises backslashes,
code spans or fences: whatever Markdown made of them, the browser-grade parse of its output is
what gets filtered.

`sanitise()` returns the clean HTML and a list of what it removed, for warnings. The list is
found by comparing the tags and attributes before and after with Python's own HTML parser; it
only words the warnings, it decides nothing.
"""

import functools
import re
from collections import Counter
from html.parser import HTMLParser
from typing import List, Optional, Tuple

import nh3

# <a id="ALLOWED_TAGS"></a>
# What Markdown produces (paragraphs, headings, lists, tables, code), plus the few tags that
# prose writes by hand: anchors such as `<a id="WeightDecay"></a>`, `<sup>`, `<kbd>`, `<details>`.
ALLOWED_TAGS = {
    'a', 'abbr', 'b', 'blockquote', 'br', 'code', 'dd', 'del', 'details', 'div', 'dl', 'dt', 'em',
    'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'kbd', 'li', 'mark', 'ol', 'p', 'pre',
    'span', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'th', 'thead', 'tr', 'u', 'ul',
}
# The attributes each tag may carry; `id` and `title` are allowed on all of them. No `style`,
# no `on*=` handler, no `class` except the language of a fenced code block.
ALLOWED_ATTRIBUTES = {
    '*': {'id', 'title'},
    'a': {'href', 'name'},
    'img': {'src', 'alt', 'width', 'height'},
    'ol': {'start'},
    'td': {'align'},
    'th': {'align'},
    'details': {'open'},
}
# The fence languages we highlight; the class of any other is dropped and the block stays plain.
CODE_LANGUAGES = {'python', 'py', 'pycon', 'python3', 'bash', 'sh', 'shell', 'console', 'text',
                  'toml', 'yaml', 'json', 'ini', 'cfg'}
ALLOWED_CLASSES = {'code': {f'language-{name}' for name in CODE_LANGUAGES}}
LINK_SCHEMES = {'http', 'https', 'mailto'}

# Browsers drop leading and trailing C0 controls and spaces from a URL, and tabs and newlines
# anywhere in it, before they look at the scheme; so must we.
URL_IGNORED_RE = re.compile(r'^[\x00-\x20]+|[\x00-\x20]+$|[\t\n\r]')
SCHEME_RE = re.compile(r'([a-zA-Z][a-zA-Z0-9+.-]*):')


def url_problem(tag: str, attribute: str, value: str, remote_images: bool = False) -> Optional[str]:
    """
    Why the URL `value` of `tag`'s `attribute` may not reach a page, or `None` when it may.
    Links may be relative, `http(s)` or `mailto`; images must be relative, or `https` when the
    configuration allows remote images. A URL that starts with two slashes (or backslashes, which
    browsers read as slashes) is protocol-relative: it names another host, so it is remote too.
    """
    url = URL_IGNORED_RE.sub('', value)
    scheme = SCHEME_RE.match(url)
    remote = scheme is not None or re.match(r'[/\\]{2}', url) is not None
    if tag == 'img' and attribute == 'src':
        if remote and not (remote_images and scheme and scheme.group(1).lower() == 'https'):
            return 'images must be files next to the page' + ('' if remote_images else
                                                              ' (remote https images need remote_images = true)')
        return None
    if scheme and scheme.group(1).lower() not in LINK_SCHEMES:
        return f'links may only use {", ".join(sorted(LINK_SCHEMES))} or be relative'
    if not scheme and remote:
        return 'protocol-relative links name another host; write https:// in full'
    return None


@functools.lru_cache(maxsize=None)
def cleaner(remote_images: bool) -> nh3.Cleaner:
    """nh3's sanitiser with our allow-lists, made once: making it costs as much as cleaning a section."""
    def keep(tag: str, attribute: str, value: str) -> Optional[str]:
        if attribute not in ALLOWED_ATTRIBUTES['*'] | ALLOWED_ATTRIBUTES.get(tag, set()) | {'class'}:
            return None
        if attribute in ('href', 'src') and url_problem(tag, attribute, value, remote_images):
            return None
        return value

    return nh3.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, allowed_classes=ALLOWED_CLASSES,
                       attribute_filter=keep, url_schemes=LINK_SCHEMES, link_rel=None, strip_comments=True,
                       clean_content_tags={'script', 'style'})


def sanitise(fragment: str, remote_images: bool = False) -> Tuple[str, List[Tuple[str, str]]]:
    """
    The allow-listed part of the HTML `fragment`, and a description of each tag, attribute or URL
    that was removed (see `removed`). The content of `<script>` and `<style>` goes with them;
    other tags off the list are dropped and their text kept. No `class` survives but a fenced
    block's language, so prose cannot mark its own text as math for MathJax.
    """
    clean = cleaner(remote_images).clean(fragment)
    # Most prose comes back as it went in, but for Markdown's `<br />`: then nothing was removed.
    if clean == fragment.replace(' />', '>'):
        return clean, []
    return clean, removed(fragment, clean, remote_images)


class _Tags(HTMLParser):
    """The start tags of a fragment as `(tag, attribute, value)` triples, `(tag, None, None)` for the tag itself."""

    def __init__(self, fragment: str):
        super().__init__(convert_charrefs=True)
        self.items: Counter = Counter()
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.items[(tag, None, None)] += 1
        for attribute, value in attrs:
            self.items[(tag, attribute, value or '')] += 1

    handle_startendtag = handle_starttag


def removed(before: str, after: str, remote_images: bool) -> List[Tuple[str, str]]:
    """
    What the sanitiser dropped, in words (a tag, an attribute, or a URL and why), each with the
    text to look for in the source to find its line.
    """
    lost = _Tags(before).items - _Tags(after).items
    notes = []
    for (tag, attribute, value), _ in sorted(lost.items(), key=lambda item: tuple(map(str, item[0]))):
        if attribute is None:
            notes.append((f'<{tag}', f'HTML tag <{tag}> is not on the allow-list; removed'))
        elif attribute in ('href', 'src') and url_problem(tag, attribute, value, remote_images):
            notes.append((value, f'unsafe URL {value!r} removed: {url_problem(tag, attribute, value, remote_images)}'))
        elif attribute == 'class' and tag in ALLOWED_CLASSES:
            continue
        elif (tag, None, None) not in lost:
            notes.append((f'{attribute}=', f'attribute {attribute}= of <{tag}> is not on the allow-list; removed'))
    return notes
