'use strict';
(function () {
  const A = window.Agora;
  const TOP = 10, MAX = 900;
  let plot = null;
  const phases = ['staging', 'starting', 'running', 'unreachable', 'finished', 'failed', 'killed', 'lost', 'error'];

  function row(f, maxShare) {
    const w = maxShare > 0 ? 100 * f.share / maxShare : 0;
    let h = '<tr class="fw" data-key="' + A.esc(f.key) + '">' +
      '<td class="name"><a href="/frameworks/' + encodeURIComponent(f.namespace) + '/' + encodeURIComponent(f.name) + '"><span class="ns">' + A.esc(f.namespace) + '/</span>' + A.esc(f.name) + '</a></td>' +
      '<td>' + A.esc(f.role || 'default') + '</td><td class="n weight">' + A.esc(f.weight) + '</td>' +
      '<td class="share-cell"><div class="share"><div class="sb"><i style="width:' + w.toFixed(1) + '%"></i></div><span class="sv share">' + f.share.toFixed(4) + '</span></div></td>' +
      '<td>' + A.esc(f.dominant || '–') + '</td><td>' + A.res(f.allocated) + '</td><td>' + A.res(f.offered) + '</td>';
    for (const p of phases) {
      const v = f.tasks[p] || 0;
      h += '<td class="n ' + p + (v ? '' : ' z') + '">' + v + '</td>';
    }
    h += '<td class="n offers">' + (f.offers || 0) + '</td><td><span class="state' + (f.ready ? '' : ' bad') + '">' + A.esc(f.state) + '</span></td></tr>';
    if (!f.ready) h += '<tr class="why-row" data-key="' + A.esc(f.key) + '"><td></td><td colspan="17"><div class="why"><b>' + A.esc(f.reason) + '</b>: ' + A.esc(f.why || 'no message') + '</div></td></tr>';
    return h;
  }

  function table(snap) {
    const fws = snap.frameworks;
    const max = fws.reduce((m, f) => Math.max(m, f.share), 0);
    document.querySelector('#fw-table tbody').innerHTML = fws.map(f => row(f, max)).join('');
    document.getElementById('fw-empty').hidden = fws.length > 0;
    A.forbidden(snap.forbidden, ['frameworks']);
  }

  function draw(hist) {
    document.getElementById('share-note').textContent = hist.truncated ? '(the ' + TOP + ' largest; ' + hist.truncated + ' more in the table)' : '';
    plot = plot || A.lines(document.getElementById('chart-shares'), { values: A.shareAxis, fmt: v => v.toFixed(4) });
    plot.set(hist.t, hist.shares);
  }

  async function init() {
    const [snap, hist] = await Promise.all([A.get('/api/snapshot'), A.get('/api/history?top=' + TOP)]);
    table(snap);
    draw(hist);
    A.rendered();
    A.live(s => {
      table(s);
      const x = s.sample;
      if (!x) return;
      // A framework the plot does not have yet: take the history again.
      const fresh = keys => s.frameworks.some(f => f.share > 0 && !keys.includes(f.key)) && keys.length < TOP;
      plot.follow(x.t, x.shares, fresh, async () => draw(await A.get('/api/history?top=' + TOP)), MAX);
    });
  }
  init().catch(e => { document.getElementById('fw-empty').hidden = false; document.getElementById('fw-empty').textContent = String(e); });
})();
