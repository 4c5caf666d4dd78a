// Agora dashboard: helpers shared by every page. No build step; plain ES2017.
'use strict';
(function () {
  const A = window.Agora = {};
  A.esc = s => String(s == null ? '' : s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const nf2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  A.cores = m => nf1.format(m / 1000);
  A.gib = b => nf1.format(b / 1073741824);
  A.bytes = b => {
    const u = [['Ti', 1099511627776], ['Gi', 1073741824], ['Mi', 1048576], ['Ki', 1024]];
    for (const [s, n] of u) if (b >= n) return nf1.format(b / n) + s;
    return String(b);
  };
  A.share = v => nf2.format(v * 100) + '%';
  A.res = r => {
    if (!r || (!r.cpu && !r.memory && !r.gpu)) return '–';
    const parts = [];
    if (r.cpu) parts.push(A.cores(r.cpu) + ' CPU');
    if (r.memory) parts.push(A.bytes(r.memory));
    if (r.gpu) parts.push(r.gpu + ' GPU');
    return parts.join(', ');
  };
  // shareAxis labels a share axis in percent with as many decimals as the range needs.
  A.shareAxis = (u, vals) => {
    const span = Math.max(...vals) - Math.min(...vals);
    const d = span >= 0.05 ? 0 : span >= 0.005 ? 1 : 2;
    return vals.map(v => (v * 100).toFixed(d) + '%');
  };
  A.ago = t => {
    const ms = new Date(t).getTime();
    if (!t || !(ms > 0)) return '–';
    const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
    if (s < 0) return 'in ' + A.dur(-s);
    return A.dur(s) + ' ago';
  };
  A.dur = s => s < 90 ? s + 's' : s < 5400 ? Math.round(s / 60) + 'm' : s < 172800 ? Math.round(s / 3600) + 'h' : Math.round(s / 86400) + 'd';
  A.get = async url => {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (await r.text()));
    return r.json();
  };
  A.colors = ['#3b6fd4', '#e4572e', '#29a36a', '#f0a030', '#8e5bd6', '#17a2b8', '#d6448b', '#6b8e23', '#795548', '#607d8b', '#c0ca33', '#00897b'];
  A.color = i => A.colors[i % A.colors.length];

  // rendered marks the page as fully drawn, once: the browser tests and the render benchmark
  // wait for it (performance.now() since navigation start is in window.agoraRenderedAt).
  A.rendered = () => {
    if (document.body.dataset.rendered) return;
    window.agoraRenderedAt = performance.now();
    document.body.dataset.rendered = '1';
  };

  A.forbidden = (f, names) => {
    const el = document.getElementById('forbidden');
    const msgs = names.filter(n => f && f[n]).map(n => '<b>' + A.esc(n) + '</b>: ' + A.esc(f[n]));
    el.hidden = msgs.length === 0;
    el.innerHTML = msgs.length ? 'Your credentials may not read some of what this page shows (RBAC):<br>' + msgs.join('<br>') : '';
  };

  // live calls onSnapshot with every snapshot the server pushes (at most one a second).
  A.live = onSnapshot => {
    const badge = document.getElementById('live');
    const es = new EventSource('/api/stream');
    es.addEventListener('snapshot', ev => {
      const snap = JSON.parse(ev.data);
      badge.className = 'live';
      badge.textContent = 'live · ' + new Date(snap.time).toLocaleTimeString();
      onSnapshot(snap);
    });
    es.onerror = () => { badge.className = 'live off'; badge.textContent = 'reconnecting…'; };
    // A browser keeps at most 6 connections per host over HTTP/1.1 and the stream holds one:
    // a page left for another (kept in the back/forward cache) must let its stream go, or a
    // few clicks later the next page waits for a free connection. Coming back reloads it.
    window.addEventListener('pagehide', () => es.close());
    window.addEventListener('pageshow', ev => { if (ev.persisted) location.reload(); });
    return es;
  };

  // plot draws a uPlot time series into el and resizes it with the window.
  A.plot = (el, series, data, opts) => {
    opts = opts || {};
    const width = () => Math.max(300, el.clientWidth - 4);
    const u = new uPlot({
      width: width(), height: opts.height || 240,
      series: [{}].concat(series),
      // At least the last minute on the x axis, so a young history does not zoom into milliseconds.
      scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - 60), max] }, y: opts.y || { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
      axes: [{}, { values: opts.values || ((u, v) => v), size: 60 }],
      legend: { live: opts.liveLegend !== false },
      cursor: { drag: { x: true, y: false } },
    }, data, el);
    window.addEventListener('resize', () => u.setSize({ width: width(), height: opts.height || 240 }));
    return u;
  };

  // lines is a plot of one line per key (a framework's share, a role's preemptions) over time
  // in el. set(t, lines) draws it from a history's columns; add(t, values, max) appends a live
  // sample (key → value; a key it lacks is a gap). opts go to A.plot, with fmt for the legend.
  A.lines = (el, opts) => {
    const p = { keys: [], lastT: 0, data: null, u: null };
    p.set = (t, lines) => {
      p.keys = lines.map(l => l.key);
      p.data = [t.slice()].concat(lines.map(l => l.values.slice()));
      if (p.u) p.u.destroy();
      el.innerHTML = '';
      const series = p.keys.map((k, i) => ({ label: k, stroke: A.color(i), width: 2, spanGaps: false, value: (u, v) => v == null ? '–' : opts.fmt(v) }));
      p.u = A.plot(el, series, p.data, opts);
      p.lastT = t.length ? t[t.length - 1] : 0;
    };
    p.add = (t, values, max) => {
      p.lastT = t;
      A.append(p.data, [t].concat(p.keys.map(k => (k in values ? values[k] : null))), max);
      p.u.setData(p.data);
    };
    // follow takes a live sample: when fresh(keys) says it has a key the plot lacks (rare), the
    // plot is drawn again by refetch() (one at a time); else the sample is added.
    let refetching = false;
    p.follow = async (t, values, fresh, refetch, max) => {
      if (t <= p.lastT) return;
      if (!refetching && fresh(p.keys)) {
        refetching = true;
        try { await refetch(); } finally { refetching = false; }
        return;
      }
      p.add(t, values, max);
    };
    return p;
  };

  // append adds one point to a uPlot data set in place, keeping at most max points.
  A.append = (data, point, max) => {
    for (let i = 0; i < data.length; i++) {
      data[i].push(point[i]);
      if (data[i].length > max) data[i].shift();
    }
  };
})();
