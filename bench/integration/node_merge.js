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
// Couchbase's advanced accessors (get/insert/replace/upsert/delete with CAS)
// over the same Map, for versions of the function that use them
const cas = new Map();
let casSeq = 0;
const put = (k, d) => { store.set(k, JSON.stringify(d)); cas.set(k, ++casSeq); return { success: true, meta: { id: k, cas: String(casSeq) } }; };
const couchbase = {
  get: (b, m) => store.has(m.id) ? { success: true, meta: { id: m.id, cas: String(cas.get(m.id)) }, doc: JSON.parse(store.get(m.id)) }
                                 : { success: false, error: { key_not_found: true } },
  insert: (b, m, d) => store.has(m.id) ? { success: false, error: { key_already_exists: true } } : put(m.id, d),
  replace: (b, m, d) => !store.has(m.id) ? { success: false, error: { key_not_found: true } }
    : (m.cas !== undefined && String(cas.get(m.id)) !== String(m.cas)) ? { success: false, error: { cas_mismatch: true } }
    : put(m.id, d),
  upsert: (b, m, d) => put(m.id, d),
  delete: (b, m) => { const had = store.delete(m.id); cas.delete(m.id); return had ? { success: true } : { success: false, error: { key_not_found: true } }; },
};
const ctx = { cust, couchbase, log: () => {}, curl: () => { throw new Error('curl disabled'); },
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
