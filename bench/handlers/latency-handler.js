// A worker handler for the latency benchmark (HANDLER=bench/handlers/latency-handler.js): records,
// per event, the time from publish to handler start (monotonic clock, comparable across processes
// on one host) as one line in LAT_FILE, flushed every 100 ms. The event's data carries `sentAt`
// (process.hrtime in ms at publish).
'use strict';
const { appendFileSync } = require('node:fs');

const file = process.env.LAT_FILE;
if (!file) throw new Error('LAT_FILE is required by the latency handler');
let buf = [];
const flush = () => {
  if (buf.length === 0) return;
  appendFileSync(file, buf.join('\n') + '\n');
  buf = [];
};
setInterval(flush, 100).unref();
process.once('exit', flush);

function handle(event) {
  const now = Number(process.hrtime.bigint()) / 1e6;
  buf.push((now - Number(event.data.sentAt)).toFixed(3));
}

module.exports = { handle };
