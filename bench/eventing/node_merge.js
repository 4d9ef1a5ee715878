// The same merge logic in plain Node.js, in memory: loads functions/customer360.js
// unchanged and runs OnUpdate over the staging documents with `cust` as a Map
// behind a Proxy (documents stored as JSON text, like a KV store would),
// online-store calls off. Prints records/s.
//   node node_merge.js customer360.js staging.tsv
'use strict';
const fs = require('fs');
const vm = require('vm');
const [code, tsv] = process.argv.slice(2);
const lines = fs.readFileSync(tsv, 'utf8').split('\n').filter(Boolean);
const docs = lines.map(l => { const t = l.indexOf('\t'); return [l.slice(0, t), l.slice(t + 1)]; });
const store = new Map();
const cust = new Proxy({}, {
  get: (t, k) => { const v = store.get(k); return v === undefined ? undefined : JSON.parse(v); },
  set: (t, k, v) => { store.set(k, JSON.stringify(v)); return true; },
  deleteProperty: (t, k) => { store.delete(k); return true; },
});
// advanced accessors with CAS over the same Map (documents as [text, cas])
const cstore = new Map();
let casSeq = 0;
const couchbase = {
  get: (b, m) => { const v = cstore.get(m.id); return v ? { success: true, meta: { id: m.id, cas: String(v[1]) }, doc: JSON.parse(v[0]) }
                                                        : { success: false, error: { key_not_found: true } }; },
  insert: (b, m, d) => { if (cstore.has(m.id)) return { success: false, error: { key_already_exists: true } };
                         cstore.set(m.id, [JSON.stringify(d), ++casSeq]); return { success: true, meta: { id: m.id, cas: String(casSeq) } }; },
  replace: (b, m, d) => { const v = cstore.get(m.id); if (!v) return { success: false, error: { key_not_found: true } };
                          if (m.cas !== undefined && String(v[1]) !== String(m.cas)) return { success: false, error: { cas_mismatch: true } };
                          cstore.set(m.id, [JSON.stringify(d), ++casSeq]); return { success: true, meta: { id: m.id, cas: String(casSeq) } }; },
};
const ctx = { cust, couchbase, log: () => {}, curl: () => { throw new Error('curl disabled'); },
              pollOnlineStore: false, onlineStore: {} };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(code, 'utf8'), ctx);
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
let seq = 0;
for (const [key, text] of docs) {
  // like the engine: the document arrives as JSON text and is parsed per call
  ctx.OnUpdate(JSON.parse(text), { id: key, cas: '0', expiration: 0, seq: ++seq, datatype: 'json' });
}
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const cu = process.cpuUsage(c0);
const cpu = (cu.user + cu.system) / 1e6;
const rss = process.memoryUsage().rss;
console.log(JSON.stringify({ records: docs.length, seconds: s, per_second: docs.length / s,
                             cpu_seconds: cpu, per_cpu_second: docs.length / cpu,
                             customers: cstore.size + store.size, rss_mb: rss / 1048576 }));
