'use strict';
(function () {
  const A = window.Agora;
  let cat = '', events = [], busy = false, again = false;

  function render() {
    const rows = events.filter(e => !cat || e.category === cat);
    document.querySelector('#events tbody').innerHTML = rows.map(e =>
      '<tr class="ev cat-' + A.esc(e.category) + '"><td title="' + A.esc(e.time) + '">' + A.ago(e.time) + '</td><td>' + A.esc(e.type) + '</td><td>' + A.esc(e.reason) +
      '</td><td>' + A.esc(e.kind) + '</td><td>' + A.esc(e.object) + '</td><td>' + A.esc(e.message) + (e.related ? ' <span class="unit">(' + A.esc(e.related) + ')</span>' : '') +
      '</td><td class="n">' + e.count + '</td></tr>').join('') || '<tr><td colspan="7" class="hint">No events' + (cat ? ' of this kind' : '') + ' (the API server keeps Events for an hour).</td></tr>';
    document.getElementById('event-count').textContent = rows.length + ' shown of ' + events.length;
  }

  async function load() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await A.get('/api/events');
      events = r.events;
      A.forbidden(r.forbidden, ['events']);
      render();
    } finally {
      busy = false;
      if (again) { again = false; setTimeout(load, 1000); }
    }
  }

  document.getElementById('filters').addEventListener('click', ev => {
    if (ev.target.tagName !== 'BUTTON') return;
    cat = ev.target.dataset.cat;
    for (const b of document.querySelectorAll('#filters button')) b.classList.toggle('on', b === ev.target);
    render();
  });
  load().then(() => {
    A.rendered();
    A.live(() => load());
  }).catch(e => { document.getElementById('event-count').textContent = String(e); });
})();
