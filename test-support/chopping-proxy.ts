/**
 * A TCP proxy written for the tests of the hand-written RESP connections: it forwards requests as
 * they come and replies in random pieces of 1..7 bytes, one write per event-loop turn, in order, so
 * the reader sees replies cut anywhere.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ChoppingProxy {
  port: number;
  /** Closes the server and every connection it carries. */
  close(): Promise<void>;
}

export async function choppingProxy(upstreamPort: number): Promise<ChoppingProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(upstream);
    client.setNoDelay(true);
    client.on('data', (d) => upstream.write(d));
    const queue: Buffer[] = [];
    let flushing = false;
    const flush = (): void => {
      const piece = queue.shift();
      if (!piece) {
        flushing = false;
        return;
      }
      client.write(piece);
      setImmediate(flush);
    };
    upstream.on('data', (d: Buffer) => {
      for (let i = 0; i < d.length; ) {
        const n = 1 + Math.floor(Math.random() * 7);
        queue.push(d.subarray(i, i + n));
        i += n;
      }
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
