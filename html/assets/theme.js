// Runs before the page paints, so a dark page never flashes white. A choice made with the
// toggle is remembered; without one, the theme follows the operating system.
//
// It also asks for the math fonts that the page's formulas draw with (`data-math-fonts`) while
// the rest of the page is still to be parsed, so that they are in (from a disk or a fast link)
// when it is first laid out, instead of being asked for by that layout and laying the page out
// again when they come. All of them, not those of the top of the page only: a page opened at an
// anchor starts anywhere, and a browser lays out more than the screen at first.
(function () {
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem('site_gen-theme:' + root.getAttribute('data-site')); } catch (e) { /* storage disabled */ }
  var dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  root.setAttribute('data-theme', stored || (dark ? 'dark' : 'light'));
  if (document.fonts) {
    (root.getAttribute('data-math-fonts') || '').split(' ').filter(Boolean).forEach(function (family) {
      // A font that fails to load is reported by the browser; the text falls back as it would.
      document.fonts.load('1em ' + family).catch(function () {});
    });
  }
})();
