// MathJax reads only elements with class "math" (the generator wraps every span of math in one),
// so a dollar sign elsewhere is never typeset. `noundefined` and `noerrors` are removed: an
// undefined macro or a TeX error is recorded in window.mathErrors and logged as a console error,
// where the browser tests see it, instead of being shown quietly in red.
window.mathErrors = [];
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: false,
    processEnvironments: true,
    packages: {'[-]': ['noundefined', 'noerrors']},
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
        document.documentElement.setAttribute('data-mathjax', 'done');
      });
    }
  }
};
