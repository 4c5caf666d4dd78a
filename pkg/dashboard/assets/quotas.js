'use strict';
(function () {
  const A = window.Agora;
  const MAX = 900, RES = ['cpu', 'memory', 'gpu'];
  const fmt = { cpu: v => A.cores(v) + ' CPU', memory: A.bytes, gpu: v => v + ' GPU' };
  let plot = null;

  // bar draws, for the first resource the guarantee (else the limit) names, what the role holds
  // (allocated, offered) and holds revocably against its guarantee (a mark); without a
  // guarantee, against its limit (the bar's end).
  function bar(q) {
    const g = q.guarantee || {}, l = q.limit || {};
    const k = RES.find(r => g[r]) || RES.find(r => l[r]) || 'cpu';
    const a = q.allocated[k] || 0, o = q.offered[k] || 0, r = q.revocable[k] || 0;
    const scale = Math.max(g[k] || l[k] || 0, a + o + r);
    if (!scale) return '<span class="unit">–</span>';
    const pct = v => Math.min(100, 100 * v / scale).toFixed(2) + '%';
    const f = fmt[k];
    const title = k + ': allocated ' + f(a) + ', offered ' + f(o) + ', revocable ' + f(r) + (g[k] ? ', guarantee ' + f(g[k]) : '') + (l[k] ? ', limit ' + f(l[k]) : '');
    return '<div class="qbar" title="' + A.esc(title) + '"><div class="bar"><i class="a" style="width:' + pct(a) + '"></i><i class="o" style="width:' + pct(o) + '"></i><i class="r" style="width:' + pct(r) + '"></i>' +
      (g[k] ? '<b class="g" style="left:' + pct(g[k]) + '"></b>' : '') + '</div><span class="unit">' + A.esc(f(a + o) + (g[k] ? ' of ' + f(g[k]) : ' held') + (r ? ' + ' + f(r) + ' revocable' : '')) + '</span></div>';
  }

  // cond shows a condition's reason, coloured by what it means for the role.
  function cond(c) {
    if (!c) return '<span class="unit" title="the controller has not written it yet">–</span>';
    const cls = c.status === 'True' ? '' : c.reason === 'Idle' ? ' idle' : c.type === 'Fits' ? ' err' : ' bad';
    return '<span class="state' + cls + '" title="' + A.esc(c.status + ': ' + c.message) + '">' + A.esc(c.reason) + '</span>';
  }

  function row(q) {
    const cut = q.role.lastIndexOf('/');
    const sat = q.satisfied;
    let h = '<tr class="quota" data-role="' + A.esc(q.role) + '"><td class="name" style="padding-left:' + (0.5 + 1.4 * q.depth).toFixed(1) + 'em"><span class="ns">' + A.esc(q.role.slice(0, cut + 1)) + '</span>' + A.esc(q.role.slice(cut + 1)) + '</td>' +
      '<td class="n">' + A.esc(q.weight) + '</td><td class="held">' + bar(q) + '</td>' +
      '<td class="guarantee">' + (q.guarantee ? A.res(q.guarantee) : '<span class="unit">none</span>') + '</td><td>' + A.res(q.allocated) + '</td><td>' + A.res(q.offered) + '</td><td class="revocable">' + A.res(q.revocable) + '</td>' +
      '<td>' + (q.limit ? A.res(q.limit) : '<span class="unit">none</span>') + '</td><td class="satisfied">' + cond(sat) + '</td><td class="fits">' + cond(q.fits) + '</td>' +
      '<td class="n preemptions' + (q.preemptions ? '' : ' z') + '">' + q.preemptions + '</td><td class="n' + (q.frameworks ? '' : ' z') + '">' + q.frameworks + '</td></tr>';
    if (sat && sat.status !== 'True') h += '<tr class="why-row" data-role="' + A.esc(q.role) + '"><td></td><td colspan="11"><div class="why"><b>' + A.esc(sat.reason) + '</b>: ' + A.esc(sat.message || 'no message') + '</div></td></tr>';
    return h;
  }

  function table(snap) {
    const qs = snap.quotas || [];
    document.querySelector('#quota-table tbody').innerHTML = qs.map(row).join('');
    const empty = document.getElementById('quota-empty');
    empty.hidden = qs.length > 0 || !!(snap.forbidden && snap.forbidden.rolequotas);
    empty.textContent = snap.absent && snap.absent.rolequotas
      ? 'This API server does not serve RoleQuotas (an Agora from before quotas): every role has weight 1, no guarantee and no limit.'
      : 'No RoleQuotas: every role has weight 1, no guarantee and no limit (kubectl explain rolequota tells how to set one).';
    const bad = qs.filter(q => q.fits && q.fits.status === 'False');
    const fits = document.getElementById('fits');
    fits.hidden = bad.length === 0;
    fits.innerHTML = bad.length ? '<h2>Guarantees that cannot all be met</h2>' + bad.map(q => '<p class="why-text"><b>' + A.esc(q.role) + '</b> (' + A.esc(q.fits.reason) + '): ' + A.esc(q.fits.message) + '</p>').join('') : '';
    A.forbidden(snap.forbidden, ['rolequotas', 'frameworks']);
  }

  function draw(hist) {
    // A count: label whole numbers only.
    plot = plot || A.lines(document.getElementById('chart-preemptions'), { height: 180, values: (u, v) => v.map(x => Number.isInteger(x) ? String(x) : ''), fmt: String });
    plot.set(hist.t, hist.preemptions);
  }

  async function init() {
    const [snap, hist] = await Promise.all([A.get('/api/snapshot'), A.get('/api/history?top=1')]);
    table(snap);
    draw(hist);
    A.rendered();
    A.live(s => {
      table(s);
      const x = s.sample;
      if (!x) return;
      const p = x.preemptions || {};
      // A role the plot does not have yet: take the history again.
      const fresh = keys => Object.keys(p).some(r => !keys.includes(r));
      plot.follow(x.t, p, fresh, async () => draw(await A.get('/api/history?top=1')), MAX);
    });
  }
  init().catch(e => { const el = document.getElementById('quota-empty'); el.hidden = false; el.textContent = String(e); });
})();
