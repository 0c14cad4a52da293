// A STUB worker process for the local-target process-management tests (the real worker has its own
// end-to-end test): prints its CONSUMER and PORT, and on SIGTERM exits 0 after STUB_STOP_MS.
const stopMs = Number(process.env.STUB_STOP_MS || 50);
process.stdout.write(JSON.stringify({ msg: 'stub worker up', consumer: process.env.CONSUMER, port: process.env.PORT }) + '\n');
if (process.env.STUB_CRASH === '1') process.exit(3);
const keepAlive = setInterval(() => undefined, 1000);
process.on('SIGTERM', () => {
  if (process.env.STUB_IGNORE_SIGTERM === '1') return;
  setTimeout(() => {
    clearInterval(keepAlive);
    process.exit(0);
  }, stopMs);
});
// Tell the test the SIGTERM handler is installed.
if (process.env.STUB_READY_DIR) require('node:fs').writeFileSync(require('node:path').join(process.env.STUB_READY_DIR, String(process.env.CONSUMER)), 'ready');
