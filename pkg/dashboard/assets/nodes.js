'use strict';
(function () {
  const A = window.Agora;
  let snap = null, selected = '';
  const res = () => document.getElementById('resource').value;
  const mode = () => document.getElementById('mode').value;
  const fmt = { cpu: v => A.cores(v) + ' CPU', memory: A.bytes, gpu: v => v + ' GPU' };

  function heat(frac) { // light (0) to dark (1), one hue
    const l = 95 - 60 * Math.min(1, Math.max(0, frac));
    return 'hsl(218,65%,' + l.toFixed(0) + '%)';
  }

  function cell(n, r, m) {
    const cap = n.allocatable[r];
    const a = cap ? 100 * n.allocated[r] / cap : 0, o = cap ? 100 * n.offered[r] / cap : 0;
    let bg;
    if (m === 'stack') {
      const ao = Math.min(100, a + o);
      bg = 'linear-gradient(to top,var(--alloc) ' + a.toFixed(1) + '%,var(--offer) ' + a.toFixed(1) + '% ' + ao.toFixed(1) + '%,var(--free) ' + ao.toFixed(1) + '%)';
    } else {
      const v = cap ? n[m][r] / cap : 0;
      bg = heat(v);
    }
    let cls = 'cell';
    if (n.executor === 'stale' || n.executor === 'none') cls += ' ex-' + n.executor;
    if (!n.ready || !n.schedulable) cls += ' down';
    if (n.name === selected) cls += ' sel';
    return '<div class="' + cls + '" data-node="' + A.esc(n.name) + '" style="background:' + bg + '"></div>';
  }

  function render() {
    if (!snap) return;
    const r = res(), m = mode();
    const nodes = snap.nodes;
    document.getElementById('heatmap').innerHTML = nodes.map(n => cell(n, r, m)).join('');
    const ex = { fresh: 0, stale: 0, none: 0, unknown: 0 };
    let down = 0;
    for (const n of nodes) { ex[n.executor]++; if (!n.ready || !n.schedulable) down++; }
    let s = nodes.length + ' nodes, ' + snap.pool.poolNodes + ' in the pool; executors: ' + ex.fresh + ' fresh, ' + ex.stale + ' stale, ' + ex.none + ' without a Lease';
    if (ex.unknown) s += ', ' + ex.unknown + ' unknown (Leases forbidden)';
    if (down) s += '; ' + down + ' not Ready or cordoned';
    if (snap.namespace) s += '. Allocated and offered count the tasks and offers of namespace ' + snap.namespace + ' only';
    s += '. Hover a cell for numbers, click it for details.';
    document.getElementById('node-summary').textContent = s;
    A.forbidden(snap.forbidden, ['nodes', 'leases', 'tasks', 'offers']);
    detail();
  }

  function tip(n) {
    return n.name + '\nexecutor ' + n.executor + (n.ready ? '' : ', NotReady') + (n.schedulable ? '' : ', cordoned') +
      '\nallocatable ' + A.res(n.allocatable) + '\nallocated ' + A.res(n.allocated) + ' (' + n.tasks + ' tasks)' +
      '\noffered ' + A.res(n.offered) + '\nfree ' + A.res(n.free);
  }

  function detail() {
    const el = document.getElementById('node-detail');
    const n = snap && snap.nodes.find(x => x.name === selected);
    el.hidden = !n;
    if (!n) return;
    el.innerHTML = '<h2>' + A.esc(n.name) + '</h2><table class="grid"><tbody>' +
      '<tr><td>executor</td><td>' + A.esc(n.executor) + '</td></tr>' +
      '<tr><td>Ready / schedulable / in pool</td><td>' + n.ready + ' / ' + n.schedulable + ' / ' + n.inPool + '</td></tr>' +
      '<tr><td>allocatable</td><td>' + A.res(n.allocatable) + '</td></tr>' +
      '<tr><td>allocated</td><td>' + A.res(n.allocated) + ' in ' + n.tasks + ' tasks</td></tr>' +
      '<tr><td>offered</td><td>' + A.res(n.offered) + (n.offeredTo ? ' to ' + n.offeredTo.map(A.esc).join(', ') : '') + '</td></tr>' +
      '<tr><td>free</td><td>' + A.res(n.free) + '</td></tr></tbody></table>';
  }

  const hm = document.getElementById('heatmap');
  hm.addEventListener('mouseover', ev => {
    const name = ev.target.dataset && ev.target.dataset.node;
    if (!name || ev.target.title) return;
    const n = snap.nodes.find(x => x.name === name);
    if (n) ev.target.title = tip(n);
  });
  hm.addEventListener('click', ev => {
    const name = ev.target.dataset && ev.target.dataset.node;
    if (name) { selected = name; render(); }
  });
  document.getElementById('resource').addEventListener('change', render);
  document.getElementById('mode').addEventListener('change', render);

  A.get('/api/snapshot').then(s => {
    snap = s;
    render();
    A.rendered();
    A.live(s2 => { snap = s2; render(); });
  }).catch(e => { document.getElementById('node-summary').textContent = String(e); });
})();
