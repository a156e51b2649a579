// The page's behaviour: the theme toggle, offline search, and highlighting the other uses of
// an identifier that is clicked. Everything works from file:// with no network.
(function () {
  'use strict';
  var root = document.documentElement;
  var base = root.getAttribute('data-root') || '';
  var THEME_KEY = 'site_gen-theme:' + document.documentElement.getAttribute('data-site');

  // ## Theme
  document.getElementById('theme-toggle').addEventListener('click', function () {
    var next = root.getAttribute('data-theme') === 'dark' ? 'light' : 'dark';
    root.setAttribute('data-theme', next);
    try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* storage disabled */ }
  });
  if (window.matchMedia) {
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', function (event) {
      var stored = null;
      try { stored = localStorage.getItem(THEME_KEY); } catch (e) { /* storage disabled */ }
      if (!stored) root.setAttribute('data-theme', event.matches ? 'dark' : 'light');
    });
  }

  // ## Wide formulas
  // The math is typeset when the site is built. Inline math cannot break across lines, so one
  // wider than its column (a long formula on a phone) becomes its own scrollable line instead of
  // widening the page. A block's formulas are all measured first and marked after, so its
  // layout is computed once. Only the sections, and the paragraphs, lists and tables of their
  // prose, that are on screen are laid out (`content-visibility: auto` in site.css), so each
  // block is fitted when it comes on screen, and those on screen again when the window is
  // resized; measuring a block off screen would lay it out. A browser without that event fits
  // every block at once.
  function fitInlineMath(block) {
    var containers = block.querySelectorAll('mjx-container:not([display="true"])');
    var wide = [];
    for (var i = 0; i < containers.length; i++) {
      if (containers[i].classList.contains('too-wide')) containers[i].classList.remove('too-wide');
    }
    for (var j = 0; j < containers.length; j++) {
      var column = containers[j].closest('.prose');
      if (containers[j].getBoundingClientRect().width > column.clientWidth - 32) wide.push(containers[j]);
    }
    for (var k = 0; k < wide.length; k++) wide[k].classList.add('too-wide');
  }
  var blocks = Array.prototype.filter.call(
    document.querySelectorAll('main > .section > .prose > :is(p, ul, ol, table)'),
    function (block) { return block.querySelector('mjx-container:not([display="true"])'); });
  var shown = blocks;
  if ('ContentVisibilityAutoStateChangeEvent' in window) {
    shown = [];
    blocks.forEach(function (block) {
      block.addEventListener('contentvisibilityautostatechange', function (event) {
        shown = shown.filter(function (other) { return other !== block; });
        if (!event.skipped) {
          shown.push(block);
          fitInlineMath(block);
        }
      });
    });
  } else {
    blocks.forEach(fitInlineMath);
  }
  window.addEventListener('resize', function () { shown.forEach(fitInlineMath); });

  // ## Identifiers
  // Clicking a name in the code marks every other use of it on the page.
  var NAME = /^(n|nf|nc|nb|bp|nn|nd|fm|vc|vm)$/;
  document.addEventListener('click', function (event) {
    var target = event.target;
    var previous = document.querySelectorAll('.hl .same');
    for (var i = 0; i < previous.length; i++) previous[i].classList.remove('same');
    if (!target.closest || !target.closest('.hl') || !NAME.test(target.className)) return;
    var spans = document.querySelectorAll('.hl span');
    for (var j = 0; j < spans.length; j++) {
      if (NAME.test(spans[j].className) && spans[j].textContent === target.textContent) spans[j].classList.add('same');
    }
  });

  // ## Search
  // The index is a script (fetch is blocked on file://), loaded the first time the box is used.
  var input = document.getElementById('search');
  var list = document.getElementById('search-results');
  var loading = null;

  function loadIndex(then) {
    if (window.SEARCH_INDEX) return then();
    if (!loading) {
      loading = [];
      var script = document.createElement('script');
      script.src = base + 'assets/search-index.js';
      script.onload = function () { loading.forEach(function (f) { f(); }); };
      document.head.appendChild(script);
    }
    loading.push(then);
  }

  function score(text, terms, weight) {
    var lower = text.toLowerCase();
    var total = 0;
    for (var i = 0; i < terms.length; i++) {
      if (lower.indexOf(terms[i]) < 0) return 0;
      total += weight;
    }
    return total + (lower.indexOf(terms.join(' ')) >= 0 ? weight : 0);
  }

  // Every term must appear. Titles and summaries weigh most, then headings, then prose; the
  // whole phrase scores a bonus. Each page shows at most its two best hits.
  function search(query) {
    var terms = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!terms.length) return [];
    var hits = [];
    window.SEARCH_INDEX.forEach(function (page) {
      var url = page[0], title = page[1], summary = page[2];
      var found = [];
      var pageScore = score(title + ' ' + summary, terms, 3);
      if (pageScore) found.push({score: pageScore + 1, url: url, title: title, detail: summary});
      page[3].forEach(function (section) {
        var heading = section[1], text = section[2];
        var s = score(heading, terms, 2) || score(text, terms, 1);
        if (s) {
          found.push({score: s, url: url + '#' + section[0], title: title + (heading ? ' › ' + heading : ''),
                      detail: snippet(text, terms)});
        }
      });
      found.sort(byScore);
      hits = hits.concat(found.slice(0, 2));
    });
    hits.sort(byScore);
    return hits.slice(0, 12);
  }

  function byScore(a, b) { return b.score - a.score || (a.url < b.url ? -1 : 1); }

  function snippet(text, terms) {
    var lower = text.toLowerCase();
    var phrase = lower.indexOf(terms.join(' '));
    var at = Math.max(0, (phrase >= 0 ? phrase : lower.indexOf(terms[0])) - 40);
    return (at ? '…' : '') + text.slice(at, at + 120) + (at + 120 < text.length ? '…' : '');
  }

  function show() {
    var hits = search(input.value);
    list.textContent = '';
    hits.forEach(function (hit, i) {
      var item = document.createElement('li');
      var link = document.createElement('a');
      link.href = base + hit.url;
      var title = document.createElement('span');
      title.className = 'result-title';
      title.textContent = hit.title;
      var detail = document.createElement('span');
      detail.className = 'result-detail';
      detail.textContent = hit.detail;
      link.appendChild(title);
      link.appendChild(detail);
      if (i === 0) link.className = 'active';
      item.appendChild(link);
      list.appendChild(item);
    });
    if (!hits.length && input.value.trim()) {
      var none = document.createElement('li');
      none.className = 'none';
      none.textContent = 'No matches';
      list.appendChild(none);
    }
    list.hidden = !input.value.trim();
  }

  input.addEventListener('input', function () { loadIndex(show); });
  input.addEventListener('focus', function () { loadIndex(function () {}); });
  input.addEventListener('keydown', function (event) {
    var links = list.querySelectorAll('a');
    var active = list.querySelector('a.active');
    var index = Array.prototype.indexOf.call(links, active);
    if (event.key === 'Enter' && active) {
      window.location.href = active.href;
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!links.length) return;
      if (active) active.className = '';
      index = (index + (event.key === 'ArrowDown' ? 1 : links.length - 1)) % links.length;
      links[index].className = 'active';
      links[index].scrollIntoView({block: 'nearest'});
    } else if (event.key === 'Escape') {
      input.value = '';
      list.hidden = true;
      input.blur();
    }
  });
  document.addEventListener('keydown', function (event) {
    if (event.key === '/' && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
    }
  });
  document.addEventListener('click', function (event) {
    if (!event.target.closest || !event.target.closest('.search')) list.hidden = true;
  });
})();
