"""
The built site in a real browser (Debian's chromium, headless, driven by Playwright), opened
from file://. The site is built from the current sources into a temporary folder, so these
tests do not depend on the committed html/. One browser serves the whole session. The math is
typeset when the site is built: a page is ready when it has loaded and its fonts are in.
"""

from pathlib import Path
from urllib.parse import unquote, urlsplit

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
TIMEOUT_MS = 30_000


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
        self.context.set_default_timeout(TIMEOUT_MS)
        self.outside, self.errors = [], []
        self.context.route('**/*', self.route)
        self.page = self.context.new_page()
        self.page.on('console', lambda m: m.type == 'error' and self.errors.append(f'console: {m.text}'))
        self.page.on('pageerror', lambda e: self.errors.append(f'exception: {e}'))
        self.page.on('requestfailed', self.failed)

    def route(self, route):
        url = route.request.url
        # `file:///` only: `file://host/...` is a request to another machine.
        if url.startswith(('file:///', 'http://127.0.0.1', 'http://localhost', 'data:', 'blob:')):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def failed(self, request):
        # A font that a relayout asked for is cancelled (`net::ERR_ABORTED`) when the next page is
        # opened before it arrived; that is our navigation, not the site, as long as the file is there.
        # A file that is missing fails with `net::ERR_FILE_NOT_FOUND` and is always reported.
        reason = request.failure
        url = request.url
        if reason == 'net::ERR_ABORTED' and url.startswith('file:///'):
            if Path(unquote(urlsplit(url).path)).is_file():
                return
        self.errors.append(f'failed request ({reason}): {url}')

    def open(self, path: Path):
        self.page.goto(path.resolve().as_uri())
        self.settle()

    def settle(self):
        """Wait until every font the page has asked for so far is in."""
        self.page.evaluate('document.fonts.ready.then(() => true)')

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


def test_every_page_shows_all_math_typeset_without_errors_offline_and_is_side_by_side_then_stacked(site, browser):
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
                mathjax: typeof window.MathJax,
                merror: document.querySelectorAll('mjx-merror').length,
                untypeset: [...document.querySelectorAll('span.math')].filter(s => !s.querySelector('mjx-container'))
                                                                       .map(s => s.textContent),
                unsized: [...document.querySelectorAll('.prose mjx-container')]
                            .filter(c => c.getBoundingClientRect().width === 0).length,
                fonts: [...document.fonts].filter(f => f.status === 'error').map(f => f.family),
                // A math font the first screen draws that the page did not ask for at once
                // (theme.js) arrives after the first layout, and the page is laid out again.
                unasked: [...document.fonts].filter(f => f.family.startsWith('MJX') && f.status !== 'unloaded')
                    .map(f => f.family)
                    .filter(family => !(document.documentElement.dataset.mathFonts || '').split(' ').includes(family)),
            })""")
            if (state['mathjax'] != 'undefined' or state['merror'] or state['untypeset'] or state['unsized'] or state['fonts']
                    or state['unasked']):
                problems.append(f'{name}: {state}')
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
                watched.settle()
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


def test_the_math_fonts_a_page_draws_are_loaded_and_mathjax_zero_font_is_not(site, browser):
    """MJXZERO, first in every MathJax font family, holds no character of ours: loading it first only delays the rest."""
    with Watched(browser) as watched:
        watched.open(site / 'labml_opt/adam.html')
        status = watched.page.evaluate("Object.fromEntries([...document.fonts].map(f => [f.family, f.status]))")
        assert status['MJXZERO'] == 'unloaded' and status['MJXTEX'] == status['MJXTEX-I'] == 'loaded', status


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
            problems += [f'{path.name}: {e}' for e in watched.errors]
            watched.errors.clear()
        problems += [f'dialog: {d}' for d in dialogs]
        problems += [f'request left the machine: {url}' for url in watched.outside]
    assert problems == [], '\n'.join(problems)


def test_math_shows_with_javascript_off_and_copies_as_its_tex(site, browser):
    """No script typesets the math: with JavaScript disabled the formulas are drawn all the same,
    screen readers find MathML, and selecting a paragraph copies its formulas as TeX."""
    with Watched(browser, java_script_enabled=False) as watched:
        page = watched.page
        watched.open(site / 'labml_opt/adam.html')
        state = page.evaluate("""() => {
            const formulas = [...document.querySelectorAll('.prose span.math')];
            return {count: formulas.length,
                    drawn: formulas.filter(f => f.querySelector('mjx-math').getBoundingClientRect().width > 2).length,
                    mathml: formulas.filter(f => f.querySelector('mjx-assistive-mml math annotation')).length,
                    hiddenTex: formulas.filter(f => f.querySelector('.tex').getBoundingClientRect().width <= 1).length};
        }""")
        assert state['count'] > 20 and state['drawn'] == state['count'], state
        assert state['mathml'] == state['count'] and state['hiddenTex'] == state['count'], state
    with Watched(browser) as watched:
        page = watched.page
        watched.open(site / 'labml_opt/adam.html')
        copied = page.evaluate("""() => {
            const paragraph = [...document.querySelectorAll('.prose p')].find(p => p.querySelector('.math'));
            const range = document.createRange();
            range.selectNodeContents(paragraph);
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
            return {text: selection.toString(), tex: [...paragraph.querySelectorAll('.tex')].map(t => t.textContent)};
        }""")
        assert copied['tex'] and all(tex in copied['text'] for tex in copied['tex']), copied
        assert watched.errors == [] and watched.outside == []


def test_torch_optim_docstrings_typeset_without_math_errors(tmp_path, browser):
    """Sphinx-style docstrings from torch itself: sections, doctests, `:math:` and `.. math::`."""
    optim = Path(pytest.importorskip('torch').__file__).parent / 'optim'
    report = build(optim.parent, ['optim/lr_scheduler.py', 'optim/swa_utils.py'], tmp_path / 'out')
    assert report.warnings == []
    problems = []
    with Watched(browser) as watched:
        for name in ('lr_scheduler', 'swa_utils'):
            watched.open(tmp_path / f'out/optim/{name}.html')
            state = watched.page.evaluate("""() => ({merror: document.querySelectorAll('mjx-merror').length,
                typeset: document.querySelectorAll('span.math mjx-container').length})""")
            if state['merror'] or not state['typeset']:
                problems.append(f'{name}: {state}')
        problems += watched.errors + watched.outside
    assert problems == []


def test_a_reference_to_an_equation_in_another_formula_scrolls_to_it(tmp_path, browser):
    filler = '\n\n'.join(f'Paragraph {k} of the text between the equation and the reference.' for k in range(80))
    write_tree(tmp_path, {'m/__init__.py': f'"""\n# Energy\n\n$$E = m c^2 \\tag{{7}} \\label{{energy}}$$\n\n{filler}\n\n'
                                           f'So $$E \\ge 0 \\quad \\text{{by }} \\eqref{{energy}}$$\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    with Watched(browser) as watched:
        page = watched.page
        watched.open(tmp_path / 'out/m/index.html')
        link = page.locator('.prose a[href="#mjx-eqn%3Aenergy"]')
        link.scroll_into_view_if_needed()
        below = page.evaluate("document.getElementById('mjx-eqn:energy').getBoundingClientRect().top")
        assert below < 0, 'the equation is out of sight above before the click'
        link.click()
        page.wait_for_function("location.hash === '#mjx-eqn%3Aenergy'")
        position = page.evaluate("""() => {
            const r = document.getElementById('mjx-eqn:energy').getBoundingClientRect();
            return {top: r.top, bottom: r.bottom, height: innerHeight,
                    bar: document.querySelector('.topbar').getBoundingClientRect().bottom};
        }""")
        # In sight, and not under the sticky top bar.
        assert position['bar'] <= position['top'] and position['bottom'] <= position['height'], position
        assert watched.errors == [] and watched.outside == []


WIDE_SUM = ' + '.join(f'\\frac{{a_{{{k}}}}}{{b_{{{k}}}}}' for k in range(40))
LONG_PAGES = {
    # Many sections before it, so that it is off screen however tall the browser guesses they are
    'many sections': ('"""\n# Long\n"""\n\n' + ''.join(f'# Step {k} of the text before the wide formula.\nx{k} = {k}\n\n\n'
                                                        for k in range(40)) + f'# The sum ${WIDE_SUM}$ is wide.\ny = 2\n',
                      'main > .section'),
    # A module docstring can be many screens tall, one section: its paragraphs off screen are skipped too
    'one long section': ('"""\n# Long\n\n' + '\n\n'.join(f'Paragraph {k}, with $x_{{{k}}}$ in it, of the text before '
                                                          f'the wide formula.' for k in range(120))
                         + f'\n\nThe sum ${WIDE_SUM}$ is wide.\n"""\ny = 2\n',
                         'main > .section > .prose > p'),
}


@pytest.mark.parametrize('kind', LONG_PAGES)
def test_a_long_page_lays_out_only_what_is_on_screen_and_a_wide_formula_far_down_still_fits_the_phone(
        tmp_path, browser, kind):
    """
    What is off screen (sections, and the paragraphs of a long section) is skipped by the browser
    (content-visibility), so a wide inline formula far down is fitted to its column when it comes on
    screen: the page never scrolls sideways.
    """
    source, skipped = LONG_PAGES[kind]
    write_tree(tmp_path, {'m/__init__.py': source})
    build(tmp_path, ['m'], tmp_path / 'out')
    with Watched(browser) as watched:
        page = watched.page
        page.set_viewport_size(PHONE)
        watched.open(tmp_path / 'out/m/index.html')
        if kind == 'one long section':
            assert page.evaluate("document.querySelectorAll('main > .section').length") <= 3
        formula = page.locator('.prose mjx-container:not([display="true"])').last
        assert page.evaluate(f"""[...document.querySelectorAll('{skipped}')]
                                 .every(e => getComputedStyle(e).contentVisibility === 'auto')""")
        assert 'too-wide' not in (formula.get_attribute('class') or ''), 'not measured while off screen'
        formula.scroll_into_view_if_needed()
        page.wait_for_function("document.querySelector('.prose mjx-container.too-wide') !== null")
        assert page.evaluate('document.documentElement.scrollWidth - innerWidth') <= 0
        assert watched.errors == []
