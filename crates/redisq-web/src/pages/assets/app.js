// redisq dashboard: live refresh, confirmation dialogs, "select all". Everything else is
// plain HTML forms and links; the pages work without this script (no refresh, no prompts).
(function () {
  'use strict';
  var KEY = 'redisq.refresh';
  var timer = null;

  // Refreshing replaces <main id="live"> with a fresh copy of the same page, unless the
  // user is in the middle of something: tasks ticked, or a field being typed in.
  function busy() {
    if (document.querySelector('#live input[type=checkbox]:checked')) return true;
    var a = document.activeElement;
    return !!a && a.id !== 'refresh' && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
  }

  function tick() {
    if (busy() || document.hidden) return;
    fetch(location.href, { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('live');
        var old = document.getElementById('live');
        if (fresh && old) old.replaceWith(fresh);
      })
      .catch(function () {});
  }

  function every(seconds) {
    if (timer) clearInterval(timer);
    timer = seconds > 0 ? setInterval(tick, seconds * 1000) : null;
  }

  var select = document.getElementById('refresh');
  if (select) {
    var saved = null;
    try { saved = localStorage.getItem(KEY); } catch (e) { saved = null; }
    select.value = saved === null ? '5' : saved;
    if (!select.value) select.value = '5';
    every(+select.value);
    select.addEventListener('change', function () {
      try { localStorage.setItem(KEY, select.value); } catch (e) { /* private mode */ }
      every(+select.value);
    });
  }

  // Buttons and forms with data-confirm ask before submitting.
  document.addEventListener('submit', function (ev) {
    var b = ev.submitter;
    var msg = (b && b.getAttribute('data-confirm')) || ev.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // The header checkbox ticks every task of the page.
  document.addEventListener('change', function (ev) {
    var t = ev.target;
    if (t.matches && t.matches('input[data-select-all]')) {
      document.querySelectorAll('#live input[name=id]').forEach(function (c) {
        c.checked = t.checked;
      });
    }
  });
})();
