// Node peers of bench_http_client: N GET requests of URL with INFLIGHT in flight, using
// Node's built-in fetch or axios (from bench/peers/node_modules). Prints requests per second.
//   node http_client.js fetch|axios URL N INFLIGHT
const [mode, url, nStr, inflightStr] = process.argv.slice(2);
const n = Number(nStr);
const inflight = Number(inflightStr);

async function main() {
  let get;
  if (mode === 'axios') {
    const axios = require('axios');
    const http = require('http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
    get = async () => {
      const r = await axios.get(url, { httpAgent: agent, responseType: 'text' });
      return r.data.length;
    };
  } else {
    get = async () => {
      const r = await fetch(url);
      return (await r.text()).length;
    };
  }
  let started = 0;
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (started < n) {
      started++;
      bytes += await get();
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log((n / secs).toFixed(1), bytes);
}
main().catch((e) => { console.error(e); process.exit(1); });
