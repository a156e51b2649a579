// Typesets TeX with MathJax 3 (the copy in the `django-static-mathjax` wheel) for typeset.py.
// Usage: node typeset.js MATHJAX_ES5_FOLDER
//
// One request per line on stdin, a JSON list of [tex, display, labels]; one answer per line on
// stdout, a JSON list of [html, error, labels] in the same order. The labels of a request are
// those its formula refers to (\eqref, \ref) but another formula of the page numbers; those of
// an answer are the ones the formula numbers itself, each as {name: [tag, id]}. The request
// ["stylesheet"] answers with MathJax's CSS for every character of its fonts. The process stays
// up until stdin closes, so a build starts it at most once.
//
// The TeX packages are those of tex-chtml-full.js, less the ones that reach outside a formula
// (html: \href, \class, \style, \cssId, \data; unicode; require and autoload, which would load
// them back; setoptions) and less noundefined and noerrors, so that an unknown macro or a TeX
// error is reported to the build instead of being shown in red.
'use strict';
const path = require('path');
const readline = require('readline');

const mathjax = require(path.join(process.argv[2], 'node-main.js'));
let error = null;

mathjax.init({
  loader: {load: ['input/tex-full', 'output/chtml', 'adaptors/liteDOM', 'a11y/assistive-mml'], versionWarnings: false},
  tex: {
    packages: {'[-]': ['noundefined', 'noerrors', 'html', 'unicode', 'require', 'autoload', 'setoptions']},
    formatError: (jax, err) => { error = err.message; return jax.formatError(err); },
  },
  // The stylesheet is one file for the whole site, next to the fonts: every character, not
  // just the ones of one page.
  chtml: {fontURL: 'mathjax/woff-v2', adaptiveCSS: false},
  options: {enableAssistiveMml: true},
  startup: {typeset: false},
}).then((MathJax) => {
  const adaptor = MathJax.startup.adaptor;
  const tags = MathJax.startup.input[0].parseOptions.tags;

  // The MathML that screen readers read gets the TeX as its annotation. Each formula starts
  // afresh (texReset: no labels or equation numbers of the formulas before it), then learns the
  // labels of other formulas that it refers to, as MathJax would have kept them from those
  // formulas ({tag, id} is all that \eqref reads of one): so its HTML depends on its TeX and
  // those labels alone, and can be kept by them.
  function typeset([tex, display, labels]) {
    error = null;
    MathJax.texReset();
    for (const [name, [tag, id]] of Object.entries(labels)) tags.allLabels[name] = {tag, id};
    const container = MathJax.tex2chtml(tex, {display});
    // The labels it numbers: one in a row without a number has no id, and nothing to link to.
    const own = {};
    for (const [name, label] of Object.entries(tags.allLabels)) {
      if (!(name in labels) && label.id) own[name] = [label.tag, label.id];
    }
    for (const math of adaptor.tags(container, 'math')) {
      const children = adaptor.childNodes(math).slice();
      children.forEach((child) => adaptor.remove(child));
      const row = adaptor.node('mrow', {}, children);
      const annotation = adaptor.node('annotation', {encoding: 'application/x-tex'}, [adaptor.text(tex)]);
      adaptor.append(math, adaptor.node('semantics', {}, [row, annotation]));
    }
    return [adaptor.outerHTML(container), error, own];
  }

  const lines = readline.createInterface({input: process.stdin, terminal: false});
  lines.on('line', (line) => {
    const request = JSON.parse(line);
    const answer = request[0] === 'stylesheet'
      ? [[adaptor.textContent(MathJax.chtmlStylesheet()), null]]
      : request.map(typeset);
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
}).catch((err) => {
  process.stderr.write(`MathJax failed to start: ${err.stack || err}\n`);
  process.exit(1);
});
