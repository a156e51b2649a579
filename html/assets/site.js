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
  // widening the page. The browser reports the widths: a ResizeObserver is told the size of each
  // formula and of each column after the browser has laid them out for a frame, so nothing is
  // measured here and no layout is forced. The sections and paragraphs off screen are not laid
  // out (`content-visibility: auto` in site.css), so their formulas are reported when they come
  // on screen; the columns are reported again when the window is resized. A formula's width is
  // that of its `mjx-math`, which stays the same whether or not it is marked too wide.
  var formulaWidth = new Map();
  var fitting = new ResizeObserver(function (entries) {
    var columns = new Set();
    entries.forEach(function (entry) {
      var target = entry.target;
      if (target.classList.contains('prose')) {
        columns.add(target);
      } else {
        formulaWidth.set(target, entry.borderBoxSize[0].inlineSize);
        columns.add(target.closest('.prose'));
      }
    });
    var marks = [];
    columns.forEach(function (column) {
      var room = column.clientWidth - 32;
      column.querySelectorAll('mjx-container:not([display="true"]) > mjx-math').forEach(function (math) {
        if (formulaWidth.has(math)) marks.push([math.parentNode, formulaWidth.get(math) > room]);
      });
    });
    marks.forEach(function (mark) { mark[0].classList.toggle('too-wide', mark[1]); });
  });
  document.querySelectorAll('.prose mjx-container:not([display="true"]) > mjx-math').forEach(function (math) {
    fitting.observe(math);
  });
  document.querySelectorAll('.prose').forEach(function (column) {
    if (column.querySelector('mjx-container:not([display="true"])')) fitting.observe(column);
  });

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
