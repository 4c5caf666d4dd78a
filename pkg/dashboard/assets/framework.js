'use strict';
(function () {
  const A = window.Agora;
  const ns = document.body.dataset.ns, name = document.body.dataset.name, key = ns + '/' + name;
  const api = '/api/frameworks/' + encodeURIComponent(ns) + '/' + encodeURIComponent(name);
  let plot = null, lastT = 0, busy = false;

  const tbody = id => document.querySelector('#' + id + ' tbody');
  const empty = (cols, what) => '<tr><td colspan="' + cols + '" class="hint">' + what + '</td></tr>';

  // status.why (when the API has it): how the pool's nodes stand for this framework.
  function whyDetail(w) {
    if (!w) return '';
    const rows = [];
    if (w.poolNodes != null) rows.push(['pool nodes', w.poolNodes]);
    for (const n of (w.nodes || [])) rows.push(['nodes kept by ' + n.cause, n.count]);
    if (w.outOfPoolNodes) rows.push(['matching nodes outside the pool', w.outOfPoolNodes]);
    if (w.declinedUntil) rows.push(['first decline filter ends', new Date(w.declinedUntil).toLocaleTimeString()]);
    if (w.ahead && w.ahead.length) rows.push(['offers holding what is free on its nodes (lowest share first)', w.ahead.map(a => a.name + ' ' + a.dominantShare).join(', ')]);
    if (w.holders && w.holders.length) rows.push(['tasks holding the most of its full nodes', w.holders.map(a => a.name + ' ' + a.dominantShare).join(', ')]);
    if (w.foreignPods) rows.push(["other schedulers' pods on its full nodes", A.res(w.foreignPods)]);
    for (const k of Object.keys(w)) {
      if (!['reason', 'poolNodes', 'nodes', 'outOfPoolNodes', 'declinedUntil', 'ahead', 'holders', 'foreignPods'].includes(k)) rows.push([k, JSON.stringify(w[k])]);
    }
    return '<table class="grid why-detail"><tbody>' + rows.map(([k, v]) => '<tr><td>' + A.esc(k) + '</td><td>' + A.esc(v) + '</td></tr>').join('') + '</tbody></table>';
  }

  function render(d) {
    const f = d.framework;
    const st = document.getElementById('fw-state');
    st.textContent = f.state;
    st.className = 'badge' + (f.ready ? '' : ' bad');
    const why = document.getElementById('why');
    why.hidden = f.ready && !d.whyDetail;
    why.innerHTML = (f.ready ? '<h2>Receiving offers</h2>' : '<h2>Why no offers: ' + A.esc(f.reason) + '</h2><p class="why-text">' + A.esc(f.why || 'no message') + '</p>') + whyDetail(d.whyDetail);
    const sel = d.spec && d.spec.nodeSelector ? JSON.stringify(d.spec.nodeSelector) : 'every node';
    const t = f.tasks;
    document.getElementById('summary').innerHTML =
      '<div class="card"><div class="k">dominant share</div><div class="v">' + f.share.toFixed(4) + '</div><div class="k">' + A.esc(f.dominant || '–') + ', weight ' + A.esc(f.weight) + ', role ' + A.esc(f.role || 'default') + '</div></div>' +
      '<div class="card"><div class="k">allocated (tasks)</div><div class="v">' + A.cores(f.allocated.cpu) + ' <span class="unit">CPU</span></div><div class="k">' + A.res(f.allocated) + '</div></div>' +
      '<div class="card"><div class="k">offered</div><div class="v">' + A.cores(f.offered.cpu) + ' <span class="unit">CPU</span></div><div class="k">' + A.res(f.offered) + ' in ' + f.offers + (f.offers === 1 ? ' offer' : ' offers') + '</div></div>' +
      '<div class="card"><div class="k">tasks</div><div class="v" id="active-tasks">' + (t.active || 0) + ' <span class="unit">active</span></div><div class="k">' +
      ['staging', 'starting', 'running', 'unreachable', 'finished', 'failed', 'killed', 'lost', 'error'].filter(p => t[p]).map(p => t[p] + ' ' + p).join(', ') + '</div></div>' +
      '<div class="card"><div class="k">node selector</div><div class="k">' + A.esc(sel) + '</div><div class="k">' + (f.suppressed ? 'offers suppressed' : '') + '</div></div>';
    tbody('conditions').innerHTML = (d.conditions || []).map(c => '<tr><td>' + A.esc(c.type) + '</td><td>' + A.esc(c.status) + '</td><td>' + A.esc(c.reason) + '</td><td>' + A.esc(c.message) + '</td><td>' + A.ago(c.since) + '</td></tr>').join('') || empty(5, 'none yet');
    const rev = x => x.revocable ? '<span class="tag" title="revocable: lent from another role\'s guarantee, may be preempted">revocable</span>' : '';
    tbody('offers').innerHTML = d.offers.map(o => '<tr><td>' + A.esc(o.offer) + '</td><td>' + A.esc(o.node) + rev(o) + '</td><td>' + A.res(o.offered) + '</td><td>' + A.res(o.remaining) + '</td><td>' + (o.releasing ? 'releasing' : A.ago(o.expires)) + '</td></tr>').join('') || empty(5, 'no outstanding offers');
    document.getElementById('offers-count').textContent = '(' + d.offers.length + ' offered nodes)';
    tbody('tasks').innerHTML = d.tasks.map(x => '<tr class="task"><td>' + A.esc(x.name) + rev(x) + '</td><td class="phase-' + A.esc(x.phase) + '">' + A.esc(x.phase) + '</td><td>' + A.esc(x.node) + '</td><td>' + A.res(x.resources) + '</td><td>' + A.esc(x.offer) + '</td><td title="' + A.esc(x.message) + '">' + A.esc(x.reason) + '</td><td>' + A.ago(x.created) + '</td></tr>').join('') || empty(7, 'no tasks');
    document.getElementById('tasks-count').textContent = '(' + (d.tasksShown < d.tasksTotal ? d.tasksShown + ' of ' : '') + d.tasksTotal + ', live ones first)';
    tbody('fw-events').innerHTML = d.events.map(e => '<tr><td>' + A.ago(e.time) + '</td><td>' + A.esc(e.reason) + '</td><td>' + A.esc(e.kind + ' ' + e.object.split('/').pop()) + '</td><td>' + A.esc(e.message) + '</td></tr>').join('') || empty(4, 'none');
    A.forbidden(d.forbidden, ['offers', 'tasks', 'events']);
  }

  async function load() {
    if (busy) return;
    busy = true;
    try {
      const r = await fetch(api, { cache: 'no-store' });
      const missing = document.getElementById('fw-missing');
      if (!r.ok) { missing.hidden = false; missing.textContent = await r.text(); return; }
      missing.hidden = true;
      render(await r.json());
    } finally { busy = false; }
  }

  async function init() {
    const [, hist] = await Promise.all([load(), A.get('/api/history')]);
    const line = hist.shares.find(l => l.key === key);
    const data = [hist.t.slice(), line ? line.values.slice() : hist.t.map(() => null)];
    plot = { data, u: A.plot(document.getElementById('chart-share'), [{ label: 'dominant share', stroke: '#3b6fd4', fill: 'rgba(59,111,212,.12)', width: 2 }], data, { height: 170, values: A.shareAxis }) };
    lastT = hist.t.length ? hist.t[hist.t.length - 1] : 0;
    A.rendered();
    A.live(s => {
      load();
      const x = s.sample;
      if (!x || x.t <= lastT) return;
      lastT = x.t;
      A.append(plot.data, [x.t, key in x.shares ? x.shares[key] : null], 900);
      plot.u.setData(plot.data);
    });
  }
  init().catch(e => { const m = document.getElementById('fw-missing'); m.hidden = false; m.textContent = String(e); });
})();
