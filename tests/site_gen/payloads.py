"""
Attacks on the pages, as prose a source file could carry: every one that issue 15 found, and the
obvious variants (quoted, unquoted, single-quoted, entity-encoded URLs; tags Markdown passes
through; constructs where a hand-written sanitiser and Markdown disagree). `test_render.py` checks
the HTML of each; `test_browser.py` opens each in Chromium, where no script may run and no request
may leave the machine.

A payload that sets `window.pwned` has run script. `x` is an image file that exists next to the
page, so that an `onerror` handler would have something to fire on.

`dangers()` is an independent reading of the output, written without the generator's code: what
in it could run script, style the page, or load from elsewhere.
"""

import re
from html.parser import HTMLParser
from typing import List

RUN = 'window.pwned=1'
EVIL = 'https://evil.example'

# Prose in a docstring, unless the name starts with `comment`.
PROSE = {
    # The four ways issue 15 ran script past the hand-written sanitiser.
    'backslash_img': f'\\<img src=x onerror={RUN}>',
    'code_span_across_blank_line': f'`open\n\n<img src=x onerror={RUN}>\n\nclose`',
    'fence_info_with_space': f'``` py thon\nx = 1\n```\n<img src=x onerror={RUN}>',
    'indented_fence': f'    ```\n<img src=x onerror={RUN}>\n    ```\n\n<svg onload={RUN}></svg>',
    'unclosed_tilde_fence': f'~~~\n<img src=x onerror={RUN}>',
    # Tags and handlers.
    'script': f'<script>{RUN}</script>',
    'script_in_comment': f'<!-- <script>{RUN}</script> -->',
    'html_comment_breakout': f'<!--> <img src=x onerror={RUN}> -->',
    'img_onerror_unquoted': f'<img src=x onerror={RUN}>',
    'img_slash_separators': f'<img/src="x"/onerror={RUN}>',
    'img_unclosed_tag': f'<img src=x onerror="{RUN}"',
    'svg_onload': f'<svg onload={RUN}></svg>',
    'svg_xlink_href': f'<svg><a xlink:href="javascript:{RUN}"><text y="20">svg link</text></a></svg>',
    'mathml_maction': f'<math><maction actiontype="statusline" xlink:href="javascript:{RUN}">m</maction></math>',
    'details_ontoggle': f'<details open ontoggle={RUN}><summary>s</summary>d</details>',
    'onclick_link': f'<a href="#" onclick="{RUN}">click</a>',
    'iframe_srcdoc': f'<iframe srcdoc="<script>parent.pwned=1</script>"></iframe>',
    'object_data': f'<object data="javascript:{RUN}"></object>',
    'embed_src': f'<embed src="javascript:{RUN}">',
    'form_action': f'<form action="javascript:{RUN}"><button>go</button></form>',
    'meta_refresh': f'<meta http-equiv="refresh" content="0;url=javascript:{RUN}">',
    'base_href': f'<base href="{EVIL}/">',
    'link_stylesheet': f'<link rel="stylesheet" href="{EVIL}/a.css">',
    'style_import': f'<style>@import url({EVIL}/a.css);</style>',
    'style_attribute': f'<div style="background:url({EVIL}/a.png)">styled</div>',
    'img_srcset': f'<img src=x srcset="{EVIL}/a.png 1x">',
    'video_poster': f'<video poster="{EVIL}/a.png"></video>',
    'markdown_inside_div': f'<div markdown="1">[x](javascript:{RUN})</div>',
    # `javascript:` and friends, every way of writing them.
    'href_double_quoted': f'<a href="javascript:{RUN}">double</a>',
    'href_single_quoted': f"<a href='javascript:{RUN}'>single</a>",
    'href_unquoted': f'<a href=javascript:{RUN}>unquoted</a>',
    'href_decimal_entity': f'<a href="&#106;avascript:{RUN}">decimal</a>',
    'href_hex_entity': f'<a href="&#x6A;&#x61;vascript:{RUN}">hex</a>',
    'href_named_colon_entity': f'<a href="javascript&colon;{RUN}">colon</a>',
    'href_tab_entity': f'<a href="java&#9;script:{RUN}">tab</a>',
    'href_newline': f'<a href="java\nscript:{RUN}">newline</a>',
    'href_leading_space': f'<a href=" javascript:{RUN}">space</a>',
    'href_leading_control_entity': f'<a href="&#1;javascript:{RUN}">control</a>',
    'href_uppercase': f'<a href="JAVASCRIPT:{RUN}">upper</a>',
    'href_vbscript': '<a href="vbscript:msgbox(1)">vb</a>',
    'href_data_html': '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data</a>',
    'markdown_link': f'[md](javascript:{RUN})',
    'markdown_link_angle': f'[md](<javascript:{RUN}>)',
    'markdown_link_entity': f'[md](&#106;avascript:{RUN})',
    'markdown_reference_link': f'[ref][r]\n\n[r]: javascript:{RUN}',
    'markdown_autolink': f'<javascript:{RUN}>',
    'markdown_image_javascript': f'![i](javascript:{RUN})',
    'markdown_image_data': '![i](data:image/svg+xml,%3Csvg%20onload%3Dalert(1)%3E)',
    # Another host: protocol-relative and remote.
    'image_protocol_relative_markdown': '![i](//evil.example/a.png)',
    'image_protocol_relative_quoted': '<img src="//evil.example/a.png">',
    'image_protocol_relative_single': "<img src='//evil.example/a.png'>",
    'image_protocol_relative_unquoted': '<img src=//evil.example/a.png>',
    'image_protocol_relative_entities': '<img src="&#47;&#47;evil.example/a.png">',
    'image_backslashes': '<img src="\\\\evil.example/a.png">',
    'image_slash_backslash': '<img src="/\\evil.example/a.png">',
    'image_remote_https': f'<img src="{EVIL}/a.png">',
    'link_protocol_relative': '<a href="//evil.example/">elsewhere</a>',
    # The generator's own markers, written by hand: MathJax typesets only `class="math"`, and
    # `&#36;` is a dollar that our math extraction does not see but the browser does.
    'raw_math_span': f'<span class="math">&#36;\\fcolorbox{{red;background:url({EVIL}/a.png)}}{{white}}{{x}}&#36;</span>',
    'raw_math_div': '<div class="math">&#36;&#92;href{javascript:window.pwned=1}{click}&#36;</div>',
    'placeholder_characters': '\ue0000\ue001 and <b>bold</b>',
    'math_in_link_title': f'[x](a.html "t $" onmouseover="{RUN}$")',
}
COMMENTS = {
    'comment_backslash_svg': f'# \\<svg onload={RUN}>',
    'comment_heading_svg': f'# # \\<svg onload={RUN}>',
}
# Math that MathJax would turn into a link, CSS or a request: refused when the site is built.
MATH = {
    'math_href': f'$\\href{{javascript:{RUN}}}{{x}}$',
    'math_style': f'$\\style{{background:url({EVIL}/a.png)}}{{x}}$',
    'math_class': '$\\class{permalink}{x}$',
    'math_data': '$\\data{foo=bar}{x}$',
    'math_unicode': '$\\unicode[evil]{x41}$',
    'math_mmltoken': f'$\\mmlToken{{mi}}[href="javascript:{RUN}"]{{x}}$',
    'math_bbox_style': f'$\\bbox[background-image:url({EVIL}/a.png)]{{x}}$',
    'math_fcolorbox_style': f'$\\fcolorbox{{red;background:url({EVIL}/a.png)}}{{white}}{{x}}$',
}


def module(name: str, payload: str) -> str:
    if name.startswith('comment'):
        return f'x = 0\n{payload}\ny = 1\n'
    return f'r"""\n# Payload {name}\n\n{payload}\n"""\nx = 1\n'


PAYLOADS = {name: module(name, payload) for name, payload in {**PROSE, **COMMENTS, **MATH}.items()}

# Tags that have no place in prose, and attributes that run script, style, or load something.
TAGS = {'script', 'style', 'iframe', 'frame', 'object', 'embed', 'form', 'input', 'button', 'svg', 'math',
        'link', 'meta', 'base', 'video', 'audio', 'source', 'template', 'noscript', 'textarea', 'select'}
ATTRIBUTES = {'style', 'srcset', 'poster', 'action', 'formaction', 'xlink:href', 'background', 'data', 'srcdoc',
              'ping', 'target'}


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: List[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in TAGS:
            self.found.append(f'<{tag}>')
        for attribute, value in attrs:
            if attribute.startswith('on') or attribute in ATTRIBUTES:
                self.found.append(f'<{tag} {attribute}=>')
            if attribute in ('href', 'src') and value is not None:
                url = re.sub(r'[\x00-\x20]', '', value).lower()
                scheme = re.match(r'([a-z][a-z0-9+.-]*):', url)
                if (scheme and (tag == 'img' or scheme.group(1) not in ('http', 'https', 'mailto'))
                        or re.match(r'[/\\]{2}', url)):
                    self.found.append(f'<{tag} {attribute}={value!r}>')

    handle_startendtag = handle_starttag


def dangers(fragment: str) -> List[str]:
    reader = _Reader()
    reader.feed(fragment)
    reader.close()
    return reader.found
