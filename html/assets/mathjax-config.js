// MathJax reads only elements with class "math" (the generator wraps every span of math in one),
// so a dollar sign elsewhere is never typeset. `noundefined` and `noerrors` are removed: an
// undefined macro or a TeX error is recorded in window.mathErrors and logged as a console error,
// where the browser tests see it, instead of being shown quietly in red.
// The `html` package (\href, \class, \cssId, \style, \data), `unicode` (fonts by name), `require`
// and `autoload` (which would load those back on first use) and `setoptions` are removed as well: the generator
// refuses these macros at build time, and here they are undefined, so math cannot make a link,
// a style or a request even in a page that was not built by us.
window.mathErrors = [];
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: false,
    processEnvironments: true,
    packages: {'[-]': ['noundefined', 'noerrors', 'html', 'unicode', 'require', 'autoload', 'setoptions']},
    formatError: function (jax, error) {
      window.mathErrors.push(error.message);
      console.error('MathJax error: ' + error.message);
      return jax.formatError(error);
    }
  },
  options: {
    ignoreHtmlClass: 'nomath',
    processHtmlClass: 'math'
  },
  startup: {
    pageReady: function () {
      return MathJax.startup.defaultPageReady().then(function () {
        fitInlineMath();
        window.addEventListener('resize', fitInlineMath);
        document.documentElement.setAttribute('data-mathjax', 'done');
      });
    }
  }
};

// Inline math cannot break across lines. One wider than its column (a long formula on a phone)
// becomes its own scrollable line instead of widening the page.
function fitInlineMath() {
  var containers = document.querySelectorAll('.prose mjx-container:not([display="true"])');
  for (var i = 0; i < containers.length; i++) {
    var math = containers[i];
    math.classList.remove('too-wide');
    var column = math.closest('.prose');
    if (math.getBoundingClientRect().width > column.clientWidth - 32) math.classList.add('too-wide');
  }
}
