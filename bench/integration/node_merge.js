// The seed's merge in plain Node.js, in memory: functions/customer360.js
// (unchanged) over the staging records, `cust` a Map of JSON texts behind a
// Proxy, online-store calls off. Prints records/s by wall clock and by CPU
// time (the machine may be shared), and RSS.
//   node node_merge.js customer360.js staging.tsv
'use strict';
const fs = require('fs');
const vm = require('vm');
const [code, tsv] = process.argv.slice(2);
const docs = fs.readFileSync(tsv, 'utf8').split('\n').filter(Boolean)
  .map(l => { const t = l.indexOf('\t'); return [l.slice(0, t), l.slice(t + 1)]; });
const store = new Map();
const cust = new Proxy({}, {
  get: (t, k) => { const v = store.get(k); return v === undefined ? undefined : JSON.parse(v); },
  set: (t, k, v) => { store.set(k, JSON.stringify(v)); return true; },
  deleteProperty: (t, k) => { store.delete(k); return true; },
});
const ctx = { cust, log: () => {}, curl: () => { throw new Error('curl disabled'); },
              pollOnlineStore: false, onlineStore: {} };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(code, 'utf8'), ctx);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let seq = 0;
for (const [key, text] of docs)
  ctx.OnUpdate(JSON.parse(text), { id: key, cas: '0', expiration: 0, seq: ++seq, datatype: 'json' });
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const c = process.cpuUsage(c0);
const cpu = (c.user + c.system) / 1e6;
console.log(JSON.stringify({ records: docs.length, seconds: +s.toFixed(3), per_second: Math.round(docs.length / s),
                             cpu_seconds: +cpu.toFixed(3), per_cpu_second: Math.round(docs.length / cpu),
                             customers: store.size, rss_mb: Math.round(process.memoryUsage().rss / 1048576) }));
