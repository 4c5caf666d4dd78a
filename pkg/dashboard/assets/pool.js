'use strict';
(function () {
  const A = window.Agora;
  const MAX = 900;
  let cpu, mem, lastT = 0;

  function bar(r, total) {
    if (!total) return '<div class="bar"></div>';
    const a = 100 * r.allocated / total, o = 100 * r.offered / total;
    return '<div class="bar"><i class="a" style="width:' + a.toFixed(2) + '%"></i><i class="o" style="width:' + o.toFixed(2) + '%"></i></div>';
  }

  function card(title, get, fmt, p) {
    const r = { capacity: get(p.capacity), allocated: get(p.allocated), offered: get(p.offered), free: get(p.free) };
    const pct = v => r.capacity ? ' <span class="unit">' + Math.round(100 * v / r.capacity) + '%</span>' : '';
    return '<div class="card" data-res="' + title + '"><div class="k">' + title + '</div><div class="v">' + fmt(r.capacity) + '</div>' + bar(r, r.capacity) +
      '<table><tr><td>allocated</td><td class="n alloc">' + fmt(r.allocated) + pct(r.allocated) + '</td></tr>' +
      '<tr><td>offered</td><td class="n offered">' + fmt(r.offered) + pct(r.offered) + '</td></tr>' +
      '<tr><td>free</td><td class="n free">' + fmt(r.free) + pct(r.free) + '</td></tr></table></div>';
  }

  // quotaCard sums up the RoleQuotas (the quotas page has them in full), when there are any.
  function quotaCard(qs) {
    if (!qs.length) return '';
    const below = qs.filter(q => q.satisfied && q.satisfied.reason === 'BelowGuarantee').length;
    const unfit = qs.filter(q => q.fits && q.fits.status === 'False').length;
    const pre = qs.reduce((n, q) => n + q.preemptions, 0);
    return '<div class="card" id="quota-card"><div class="k"><a href="/quotas">role quotas</a></div><div class="v">' + qs.length + ' <span class="unit">' + (qs.length === 1 ? 'role' : 'roles') + '</span></div>' +
      '<table><tr><td>below their guarantee</td><td class="n">' + (below ? '<span class="state bad">' + below + '</span>' : '0') + '</td></tr>' +
      '<tr><td>guarantees that do not fit</td><td class="n">' + (unfit ? '<span class="state err">' + unfit + '</span>' : '0') + '</td></tr>' +
      '<tr><td>tasks preempted for them</td><td class="n">' + pre + '</td></tr></table></div>';
  }

  function cards(snap) {
    const p = snap.pool;
    let h = '<div class="card"><div class="k">nodes in the pool</div><div class="v" id="pool-nodes">' + p.poolNodes + ' <span class="unit">of ' + p.nodes + '</span></div>' +
      '<table><tr><td>frameworks</td><td class="n">' + p.frameworks + '</td></tr><tr><td>active tasks</td><td class="n" id="pool-tasks">' + p.activeTasks + '</td></tr><tr><td>outstanding offers</td><td class="n">' + p.offers + '</td></tr></table></div>';
    h += card('CPU (cores)', r => r.cpu, A.cores, p);
    h += card('memory', r => r.memory, A.bytes, p);
    if (p.capacity.gpu) h += card('GPU', r => r.gpu, v => String(v), p);
    h += quotaCard(snap.quotas || []);
    document.getElementById('cards').innerHTML = h;
    A.forbidden(snap.forbidden, ['nodes', 'leases', 'tasks', 'offers', 'frameworks']);
  }

  function dataOf(h, key, scale) {
    const s = h[key];
    return [h.t.slice(), s.capacity.map(v => v / scale), s.allocated.map(v => v / scale), s.offered.map(v => v / scale), s.free.map(v => v / scale)];
  }
  const series = () => [
    { label: 'capacity', stroke: '#1d2330', width: 1.5, dash: [4, 3] },
    { label: 'allocated', stroke: '#3b6fd4', fill: 'rgba(59,111,212,.12)', width: 2 },
    { label: 'offered', stroke: '#f0a030', width: 2 },
    { label: 'free', stroke: '#29a36a', width: 2 },
  ];

  async function init() {
    const [snap, hist] = await Promise.all([A.get('/api/snapshot'), A.get('/api/history?top=1')]);
    cards(snap);
    const dc = dataOf(hist, 'cpu', 1000), dm = dataOf(hist, 'memory', 1073741824);
    cpu = { data: dc, u: A.plot(document.getElementById('chart-cpu'), series(), dc, { values: (u, v) => v.map(x => A.cores(x * 1000)) }) };
    mem = { data: dm, u: A.plot(document.getElementById('chart-memory'), series(), dm, { values: (u, v) => v.map(x => x.toFixed(0)) }) };
    lastT = hist.t.length ? hist.t[hist.t.length - 1] : 0;
    A.rendered();
    A.live(s => {
      cards(s);
      const x = s.sample;
      if (!x || x.t <= lastT) return;
      lastT = x.t;
      A.append(cpu.data, [x.t, x.capacity.cpu / 1000, x.allocated.cpu / 1000, x.offered.cpu / 1000, x.free.cpu / 1000], MAX);
      A.append(mem.data, [x.t, x.capacity.memory / 1073741824, x.allocated.memory / 1073741824, x.offered.memory / 1073741824, x.free.memory / 1073741824], MAX);
      cpu.u.setData(cpu.data);
      mem.u.setData(mem.data);
    });
  }
  init().catch(e => { document.getElementById('cards').textContent = String(e); });
})();
