// Runs before the page paints, so a dark page never flashes white. A choice made with the
// toggle is remembered; without one, the theme follows the operating system.
(function () {
  var stored = null;
  try { stored = localStorage.getItem('site_gen-theme:' + document.documentElement.getAttribute('data-site')); } catch (e) { /* storage disabled */ }
  var dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  document.documentElement.setAttribute('data-theme', stored || (dark ? 'dark' : 'light'));
})();
