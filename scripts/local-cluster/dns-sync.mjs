// Cluster DNS for the local node: keeps a hosts file for dnsmasq in step with the cluster's Services.
// Debian has no CoreDNS; dnsmasq (Debian's dnsmasq-base) answers on the bridge address and this loop
// writes the records it serves:
//   <service>.<namespace>.svc.<domain>            -> the ClusterIP, or every ready endpoint (headless)
//   <hostname>.<service>.<namespace>.svc.<domain> -> a ready endpoint with a hostname (StatefulSet pods)
// It polls the apiserver once a second (two list calls) and, when the records change, rewrites the
// file and sends dnsmasq SIGHUP (which re-reads it and clears its cache).
//
//   node dns-sync.mjs <apiserver URL> <CA file> <token file> <hosts file> <dnsmasq pid file> <domain>
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { request } from 'node:https';

const [server, caFile, tokenFile, hostsFile, dnsmasqPidFile, domain] = process.argv.slice(2);
if (!domain) {
  console.error('usage: dns-sync.mjs <server> <ca> <token-file> <hosts-file> <dnsmasq-pid-file> <domain>');
  process.exit(2);
}
const ca = readFileSync(caFile);
const token = readFileSync(tokenFile, 'utf8').trim();
const log = (msg) => console.log(JSON.stringify({ time: new Date().toISOString(), msg }));

function get(path) {
  return new Promise((resolve, reject) => {
    const req = request(`${server}${path}`, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${path}: ${res.statusCode}`));
        try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch (err) { reject(err); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** The hosts file's lines for the current Services and Endpoints, sorted so equal sets compare equal. */
function records(services, endpoints) {
  const lines = new Set();
  const eps = new Map(endpoints.items.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  for (const svc of services.items) {
    const { name, namespace } = svc.metadata;
    const fqdn = `${name}.${namespace}.svc.${domain}`;
    const clusterIP = svc.spec.clusterIP;
    if (clusterIP && clusterIP !== 'None') {
      lines.add(`${clusterIP} ${fqdn}`);
      continue;
    }
    for (const subset of eps.get(`${namespace}/${name}`)?.subsets ?? []) {
      // Headless Services with publishNotReadyAddresses list not-ready pods too, as CoreDNS does.
      const addresses = [...(subset.addresses ?? []), ...(svc.spec.publishNotReadyAddresses ? subset.notReadyAddresses ?? [] : [])];
      for (const a of addresses) {
        lines.add(`${a.ip} ${fqdn}`);
        if (a.hostname) lines.add(`${a.ip} ${a.hostname}.${fqdn}`);
      }
    }
  }
  return [...lines].sort().join('\n') + '\n';
}

let current = '';
let failing = false;
async function tick() {
  try {
    const [services, endpoints] = await Promise.all([get('/api/v1/services'), get('/api/v1/endpoints')]);
    const next = records(services, endpoints);
    if (failing) log('apiserver answers again');
    failing = false;
    if (next === current) return;
    writeFileSync(`${hostsFile}.tmp`, next);
    renameSync(`${hostsFile}.tmp`, hostsFile);
    current = next;
    process.kill(Number(readFileSync(dnsmasqPidFile, 'utf8').trim()), 'SIGHUP');
    log(`records updated: ${next.split('\n').filter(Boolean).length}`);
  } catch (err) {
    if (!failing) log(`cannot update records: ${err.message}`);
    failing = true;
  }
}

let timer;
const loop = async () => { await tick(); timer = setTimeout(loop, 1000); };
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { clearTimeout(timer); process.exit(0); });
loop();
