"""
The built site in a real browser (Debian's chromium, headless, driven by Playwright), opened
from file://. The site is built from the current sources into a temporary folder, so these
tests do not depend on the committed html/. One browser serves the whole session.
"""

from pathlib import Path

import pytest

from site_gen.site import build
from tests.site_gen.conftest import REPO, write_tree
from tests.site_gen.payloads import MATH, PAYLOADS

playwright_api = pytest.importorskip('playwright.sync_api')

pytestmark = pytest.mark.timeout(420)

CHROMIUM = '/usr/bin/chromium'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-quic', '--disable-sync']
WIDE = {'width': 1280, 'height': 900}
PHONE = {'width': 390, 'height': 844}
TYPESET_TIMEOUT_MS = 30_000


@pytest.fixture(scope='session')
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f'{CHROMIUM} is missing: the browser tests need Debian\'s chromium (make chromium)')
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture(scope='session')
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('browser') / 'html'
    build(REPO, None, out)
    return out


class Watched:
    """A browser context that refuses and records every request leaving file:// or localhost."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(viewport=WIDE, **options)
        self.context.set_default_timeout(TYPESET_TIMEOUT_MS)
        self.outside, self.errors = [], []
        self.context.route('**/*', self.route)
        self.page = self.context.new_page()
        self.page.on('console', lambda m: m.type == 'error' and self.errors.append(f'console: {m.text}'))
        self.page.on('pageerror', lambda e: self.errors.append(f'exception: {e}'))
        self.page.on('requestfailed', lambda r: self.errors.append(f'failed request: {r.url}'))

    def route(self, route):
        url = route.request.url
        # `file:///` only: `file://host/...` is a request to another machine.
        if url.startswith(('file:///', 'http://127.0.0.1', 'http://localhost', 'data:', 'blob:')):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, path: Path):
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("document.documentElement.dataset.mathjax === 'done'")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.context.close()


def boxes(page):
    """Bounding boxes of the prose and code of the first section that has code."""
    return page.evaluate("""() => {
        const section = [...document.querySelectorAll('section.section')].find(s => s.querySelector('.code pre'));
        if (!section) return null;
        const box = e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
        return {prose: box(section.querySelector('.prose')), code: box(section.querySelector('.code')),
                overflow: document.documentElement.scrollWidth - window.innerWidth};
    }""")


def test_every_page_typesets_all_math_without_errors_offline_and_is_side_by_side_then_stacked(site, browser):
    pages = sorted(site.rglob('*.html'))
    assert len(pages) >= 3
    problems = []
    with Watched(browser) as watched:
        page = watched.page
        for path in pages:
            name = path.relative_to(site).as_posix()
            page.set_viewport_size(WIDE)
            watched.open(path)
            state = page.evaluate("""() => ({
                errors: window.mathErrors,
                merror: document.querySelectorAll('mjx-merror').length,
                spans: document.querySelectorAll('span.math').length,
                untypeset: [...document.querySelectorAll('span.math')].filter(s => !s.querySelector('mjx-container')).map(s => s.textContent),
            })""")
            if state['errors'] or state['merror'] or state['untypeset']:
                problems.append(f'{name}: math errors {state["errors"]}, {state["merror"]} merror, '
                                f'not typeset {state["untypeset"][:3]}')
            wide = boxes(page)
            if wide:
                prose, code = wide['prose'], wide['code']
                if not (code['x'] >= prose['x'] + prose['w'] - 1 and abs(code['y'] - prose['y']) < 2):
                    problems.append(f'{name}: not side by side at 1280 px: {wide}')
                page.set_viewport_size(PHONE)
                narrow = boxes(page)
                prose, code = narrow['prose'], narrow['code']
                if not (code['y'] >= prose['y'] + prose['h'] - 1 and abs(code['x'] - prose['x']) < 2):
                    problems.append(f'{name}: not stacked at 390 px: {narrow}')
                if narrow['overflow'] > 0:
                    problems.append(f'{name}: page scrolls sideways at 390 px by {narrow["overflow"]} px')
            problems += [f'{name}: {e}' for e in watched.errors]
            watched.errors.clear()
        problems += [f'request left file://: {url}' for url in watched.outside]
    assert problems == [], '\n'.join(problems)


def test_dark_toggle_switches_theme_and_is_remembered_and_os_theme_is_the_default(site, browser):
    adam = site / 'labml_opt/adam.html'
    with Watched(browser, color_scheme='light') as watched:
        page = watched.page
        watched.open(adam)
        background = lambda: page.evaluate('getComputedStyle(document.body).backgroundColor')  # noqa: E731
        assert page.get_attribute('html', 'data-theme') == 'light'
        light = background()
        page.click('#theme-toggle')
        assert page.get_attribute('html', 'data-theme') == 'dark'
        assert background() != light
        watched.open(site / 'labml_opt/index.html')
        assert page.get_attribute('html', 'data-theme') == 'dark', 'the choice is remembered across pages'
        page.click('#theme-toggle')
        assert page.get_attribute('html', 'data-theme') == 'light' and background() == light
        assert watched.errors == []
    with Watched(browser, color_scheme='dark') as watched:
        watched.open(adam)
        assert watched.page.get_attribute('html', 'data-theme') == 'dark'


def test_searching_bias_correction_finds_the_adam_page_offline(site, browser):
    with Watched(browser) as watched:
        page = watched.page
        watched.open(site / 'index.html')
        page.fill('#search', 'bias correction')
        page.wait_for_selector('#search-results a')
        hrefs = page.eval_on_selector_all('#search-results a', 'links => links.map(a => a.href)')
        assert any(h.split('#')[0].endswith('/labml_opt/adam.html') for h in hrefs), hrefs
        page.press('#search', 'Enter')
        page.wait_for_load_state()
        assert page.url.split('#')[0] == Path(hrefs[0].split('#')[0].removeprefix('file://')).as_uri()
        assert watched.errors == [] and watched.outside == []


def test_clicking_an_identifier_highlights_its_other_uses(site, browser):
    with Watched(browser) as watched:
        page = watched.page
        watched.open(site / 'labml_opt/adam.html')
        name = page.locator('.code .hl span.n', has_text='bias_correction2').first
        name.click()
        marked = page.eval_on_selector_all('.same', 'spans => spans.map(s => s.textContent)')
        assert len(marked) >= 3 and set(marked) == {'bias_correction2'}


@pytest.fixture(scope='module')
def payload_site(tmp_path_factory):
    """Every payload of the corpus as its own page; the ones in math are refused by the build."""
    root = tmp_path_factory.mktemp('payloads')
    write_tree(root, {f'evil/{name}.py': text for name, text in PAYLOADS.items()})
    write_tree(root, {'evil/x': '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'})
    report = build(root, ['evil'], root / 'out', keep_going=True)
    return root / 'out', report


def test_math_that_links_or_styles_is_refused_by_the_build_at_its_line(payload_site):
    _, report = payload_site
    refused = {e.path.removeprefix('evil/').removesuffix('.py') for e in report.errors}
    assert refused == set(MATH) | {'placeholder_characters'}
    assert all(e.line == 4 for e in report.errors), [str(e) for e in report.errors]


def test_no_payload_runs_script_or_makes_a_request_in_chromium(payload_site, browser):
    out, _ = payload_site
    pages = sorted((out / 'evil').glob('*.html'))
    assert len(pages) == len(PAYLOADS) - len(MATH) - 1 + 1, 'every payload page but the refused ones, plus the index'
    problems = []
    with Watched(browser) as watched:
        page = watched.page
        dialogs = []
        page.on('dialog', lambda d: (dialogs.append(d.message), d.dismiss()))
        for path in pages:
            watched.open(path)
            # Every link and image as the browser resolved it: only files here, or the web by http(s).
            urls = page.evaluate("""() => [...document.querySelectorAll('main [href], main [src], main [srcset],'
                                           + ' main [action], main [data], main [poster]')]
                                    .map(e => [e.tagName, e.href || e.src || e.getAttribute('srcset') || e.getAttribute('action')
                                               || e.getAttribute('data') || e.getAttribute('poster') || ''])""")
            for tag, url in urls:
                scheme = url.split(':', 1)[0].lower()
                if scheme not in ('file', 'http', 'https', 'mailto') or (tag == 'IMG' and scheme != 'file'):
                    problems.append(f'{path.name}: <{tag.lower()}> with {url!r}')
            # Click every link in the prose, and hover everything, in case a handler survived.
            for link in page.query_selector_all('.prose a[href]:not(.permalink):not(.source-link)'):
                href = link.get_attribute('href') or ''
                if href.startswith('#') or href.lower().startswith(('javascript', 'vbscript', 'data')):
                    link.click()
            page.hover('main')
            if page.evaluate('window.pwned') is not None:
                problems.append(f'{path.name}: script ran')
            problems += [f'{path.name}: {e}' for e in watched.errors if 'MathJax' not in e]
            watched.errors.clear()
        problems += [f'dialog: {d}' for d in dialogs]
        problems += [f'request left the machine: {url}' for url in watched.outside]
    assert problems == [], '\n'.join(problems)


def test_mathjax_cannot_make_links_styles_or_requests_even_from_math_the_build_did_not_check(tmp_path, browser):
    """The MathJax configuration, on its own: spans written straight into a built page."""
    write_tree(tmp_path, {'m/__init__.py': '"""\n# Math\n\nFine $x$.\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    macros = [r'\href{javascript:window.pwned=1}{x}', r'\class{permalink}{x}', r'\cssId{search}{x}',
              r'\style{background:url(https://evil.example/a.png)}{x}', r'\data{pwned=1}{x}',
              r'\unicode[evil]{x41}', r'\require{html}\href{javascript:window.pwned=1}{x}',
              r'\setOptions[tex]{digits=x}x']
    with Watched(browser) as watched:
        page = watched.page
        watched.open(tmp_path / 'out/m/index.html')
        result = page.evaluate("""async (macros) => {
            const spans = macros.map(m => { const s = document.createElement('span'); s.className = 'math';
                                            s.textContent = '$' + m + '$'; document.querySelector('.prose').appendChild(s);
                                            return s; });
            window.mathErrors = [];
            await MathJax.typesetPromise(spans);
            return {errors: window.mathErrors,
                    links: spans.map(s => s.querySelectorAll('a, [href]').length).reduce((a, b) => a + b, 0),
                    styled: spans.map(s => s.querySelectorAll('[style*="url"], .permalink, #search, [data-pwned]').length)
                                 .reduce((a, b) => a + b, 0)};
        }""", macros)
        assert result['links'] == 0 and result['styled'] == 0, result
        assert sorted(set(result['errors'])) == [f'Undefined control sequence \\{name}' for name in
                                                ('class', 'cssId', 'data', 'href', 'require', 'setOptions', 'style',
                                                 'unicode')]
        assert page.evaluate('window.pwned') is None and watched.outside == []


def test_an_undefined_macro_is_an_error_the_tests_see_not_quiet_red_text(tmp_path, browser):
    write_tree(tmp_path, {'m/__init__.py': '"""\n# Math\n\nFine $\\frac{a}{b}$, broken $\\notamacro{x}$.\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    with Watched(browser) as watched:
        watched.open(tmp_path / 'out/m/index.html')
        assert watched.page.evaluate('window.mathErrors') == ['Undefined control sequence \\notamacro']
        assert any('Undefined control sequence' in e for e in watched.errors)


def test_torch_optim_docstrings_typeset_without_math_errors(tmp_path, browser):
    """Sphinx-style docstrings from torch itself: sections, doctests, `:math:` and `.. math::`."""
    optim = Path(pytest.importorskip('torch').__file__).parent / 'optim'
    report = build(optim.parent, ['optim/lr_scheduler.py', 'optim/swa_utils.py'], tmp_path / 'out')
    assert report.warnings == []
    problems = []
    with Watched(browser) as watched:
        for name in ('lr_scheduler', 'swa_utils'):
            watched.open(tmp_path / f'out/optim/{name}.html')
            state = watched.page.evaluate("""() => ({errors: window.mathErrors,
                merror: document.querySelectorAll('mjx-merror').length,
                typeset: document.querySelectorAll('span.math mjx-container').length})""")
            if state['errors'] or state['merror'] or not state['typeset']:
                problems.append(f'{name}: {state}')
        problems += watched.errors + watched.outside
    assert problems == []
