/**
 * The project's one hand-written Redis connection (RESP2 over TCP, TLS or a Unix socket), used where a
 * general client's decoding costs most: the worker's read connection (streams/consumer.ts) and the lag
 * exporter's scrape connection. Callers pass, per command, how its reply is decoded (resp-decode.ts).
 * Why it exists at all: the same-run `protocol` benchmark in docs/benchmarks.md.
 *
 * Deliberately simple: the connection is made on the first `send` (and again on the next one after a
 * failure, after a short backoff when the last attempt failed), with AUTH, SELECT, CLIENT SETNAME (and
 * CLIENT ID when asked) from the options; any error or close fails every command in flight and drops
 * the connection; nothing is ever re-sent (callers that need at-least-once handle a lost reply
 * themselves). Where to connect is asked anew at each connect ({@link RespClientOptions.endpoint}: a
 * Sentinel lookup, the owner of a Cluster slot; resp-endpoints.ts), and so are the password and the
 * TLS files (functions in the options), so a failover or a rotated password is followed. An error reply
 * `MOVED`, `READONLY`, `LOADING` or `MASTERDOWN` is handed to the caller as usual and makes the
 * connection reconnect once nothing more is in flight ({@link RespClientOptions.onRedirect} hears of a
 * MOVED first); `ASK`, `TRYAGAIN` and `CLUSTERDOWN` are only handed over (the caller retries after
 * its backoff). With `role: 'master'` a connection whose server says (ROLE) it is not a primary fails.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ReceiveBuffer, encodeCommand } from './resp';
import { Cursor, INCOMPLETE, RespReplyError, genericReply, type Decoder } from './resp-decode';

/** Where and how to connect. */
export interface RespClientOptions {
  /** Host to connect to. */
  host: string;
  /** Port to connect to. */
  port: number;
  /** A Unix socket path instead of host and port. */
  path?: string;
  /** ACL user (AUTH <username> <password>); without it, AUTH <password>. */
  username?: string;
  /** ACL password (AUTH); a function is called at each connect (a password file re-read). */
  password?: string | (() => string | undefined);
  /** SELECT when not 0. */
  db?: number;
  /** TLS options (`rediss://`); a function is called at each connect (CA, certificate and key files re-read); undefined: plain TCP. */
  tls?: ConnectionOptions | (() => ConnectionOptions);
  /** CLIENT SETNAME (shown by CLIENT LIST); an error reply to it is ignored. */
  name?: string;
  /** Timeout of the TCP (and TLS) connect and of the hello commands in ms; default 5000. */
  connectTimeoutMs?: number;
  /** Ask CLIENT ID at connect ({@link RespClient.clientId}: for CLIENT UNBLOCK from another connection). */
  clientId?: boolean;
  /** Delay before a connect attempt that follows `failures` failed ones (≥ 1); default none. */
  retryDelayMs?: (failures: number) => number;
  /** Fail the connect unless the server says (ROLE) it is a primary: after a failover, never read from a replica. */
  role?: 'master';
  /** Hears of each `MOVED` reply before the connection reconnects (a Cluster endpoint learns the slot's new owner). */
  onRedirect?: (redirect: NonNullable<RespReplyError['redirect']>) => void;
  /** Asked at each connect for host and port, with the number of failed attempts just before (a Sentinel lookup, a Cluster slot owner); default host and port above. */
  endpoint?: (failures: number) => Promise<{
    /** Host to connect to. */
    host: string;
    /** Port to connect to. */
    port: number;
  }>;
}

/** A command and its arguments, e.g. `['XACK', stream, group, id]`. */
export type RespCommand = ReadonlyArray<string | number>;

const EMPTY = Buffer.alloc(0);
/** Error replies after which the connection reconnects (once nothing is in flight): the server is not (or no longer) the right one. */
const RECONNECT_ON = /^(MOVED|READONLY|LOADING|MASTERDOWN)\b/;

interface Waiting {
  decode: Decoder;
  done: (reply: unknown) => void;
  fail: (err: Error) => void;
}

/** A pipelining RESP2 connection; see the file comment. */
export class RespClient {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private readonly received = new ReceiveBuffer();
  private readonly cursor = new Cursor();
  private closed = false;
  private failures = 0;
  /** Set by an error reply that calls for another server: reconnect once nothing is in flight. */
  private stale: string | undefined;
  /** Where the current connection goes (`host:port` or the socket path). */
  where: string | undefined;
  /** CLIENT ID of the current connection (with `clientId: true`). */
  clientId: number | undefined;
  /** When bytes last arrived (ms since epoch): a caller's deadline may count from there. */
  lastDataAt = 0;
  /** Size in bytes of the last reply decoded (a reader may pace itself by it). */
  lastReplyBytes = 0;

  constructor(private readonly o: RespClientOptions) {}

  /** True while a connection is established. */
  get connected(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Sends the commands pipelined (one write) and resolves with their replies, in order, once all are
   * in; an error reply is a {@link RespReplyError} in its place. `decoders[i]` decodes reply i (default
   * generic). Rejects when the connection fails or closes first.
   */
  async send(commands: readonly RespCommand[], decoders: readonly Decoder[] = []): Promise<unknown[]> {
    if (commands.length === 0) return [];
    const socket = this.socket ?? (await this.connect());
    return this.write(socket, commands, decoders);
  }

  /** Holds the sends that follow (on the current connection) until {@link uncork}: one write for all. */
  cork(): void {
    this.socket?.cork();
  }

  /** Sends what was held since `cork()` in one write. */
  uncork(): void {
    this.socket?.uncork();
  }

  /** Drops the connection (the commands in flight fail with `reason`); the next `send` connects again. */
  reset(reason: Error | string): void {
    if (this.socket) this.drop(this.socket, typeof reason === 'string' ? new Error(reason) : reason);
  }

  /** Closes the connection for good; commands in flight fail. Idempotent. */
  close(reason = 'connection closed'): void {
    this.closed = true;
    if (this.socket) this.drop(this.socket, new Error(reason));
  }

  private write(socket: Socket, commands: readonly RespCommand[], decoders: readonly Decoder[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      if (socket !== this.socket) {
        reject(new Error(this.closed ? 'connection closed' : 'connection lost'));
        return;
      }
      const replies = new Array<unknown>(commands.length);
      let left = commands.length;
      let failed = false;
      const fail = (err: Error): void => {
        if (!failed) {
          failed = true;
          reject(err);
        }
      };
      let data = '';
      for (let i = 0; i < commands.length; i++) {
        data += encodeCommand(commands[i]!);
        const done = (v: unknown): void => {
          replies[i] = v;
          if (--left === 0 && !failed) resolve(replies);
        };
        this.waiting.push({ decode: decoders[i] ?? genericReply, done, fail });
      }
      socket.write(data);
    });
  }

  /** Connects now unless connected (what `send` does first); rejects like a send would. */
  async ensureConnected(): Promise<void> {
    if (!this.socket) await this.connect();
  }

  private connect(): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<Socket> {
    const o = this.o;
    if (this.failures > 0 && o.retryDelayMs) await new Promise((r) => setTimeout(r, o.retryDelayMs!(this.failures)));
    if (this.closed) throw new Error('connection closed');
    const timeoutMs = o.connectTimeoutMs ?? 5000;
    let endpoint: { host: string; port: number };
    try {
      endpoint = o.endpoint ? await o.endpoint(this.failures) : o;
    } catch (err) {
      this.failures += 1;
      throw err;
    }
    if (this.closed) throw new Error('connection closed');
    const { host, port } = endpoint;
    const where = o.path ?? `${host}:${port}`;
    const tls = typeof o.tls === 'function' ? o.tls() : o.tls;
    // SNI only for a name (RFC 6066 forbids addresses); the certificate is checked against the host either way.
    const socket: Socket = tls
      ? tlsConnect({ ...(o.path ? { path: o.path } : { host, port, ...(isIP(host) ? {} : { servername: host }) }), ...tls })
      : netConnect(o.path ? { path: o.path } : { host, port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    // One deadline for the connect and the hello commands.
    let timer: NodeJS.Timeout | undefined;
    let connected = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(connected ? `redis at ${where} did not answer the connection set-up within ${timeoutMs} ms` : `no connection to ${where} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    deadline.catch(() => undefined);
    try {
      await Promise.race([
        deadline,
        new Promise<void>((resolve, reject) => {
          socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
          socket.once('error', reject);
        }),
      ]);
      if (this.closed) throw new Error('connection closed');
      connected = true;
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
      socket.on('error', (err) => this.drop(socket, err));
      socket.on('close', () => this.drop(socket, new Error(`connection to ${where} closed`)));
      this.socket = socket;
      this.where = where;
      await Promise.race([deadline, this.hello(socket)]);
      this.failures = 0;
      return socket;
    } catch (err) {
      this.failures += 1;
      this.drop(socket, err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** AUTH, SELECT, CLIENT SETNAME, CLIENT ID, ROLE, pipelined; an error reply (but to SETNAME) fails the connect, and so does a ROLE that is not `master` when asked. */
  private async hello(socket: Socket): Promise<void> {
    const o = this.o;
    const hello: RespCommand[] = [];
    const password = typeof o.password === 'function' ? o.password() : o.password;
    if (password) hello.push(o.username ? ['AUTH', o.username, password] : ['AUTH', password]);
    if (o.db) hello.push(['SELECT', o.db]);
    if (o.name) hello.push(['CLIENT', 'SETNAME', o.name.replace(/\s/g, '_')]);
    if (o.clientId) hello.push(['CLIENT', 'ID']);
    if (o.role) hello.push(['ROLE']);
    if (hello.length === 0) return;
    const replies = await this.write(socket, hello, []);
    hello.forEach((cmd, i) => {
      const r = replies[i];
      // A wrong password, an unknown db. ROLE refused by an ACL: no check (XREADGROUP on a replica still answers READONLY).
      if (r instanceof RespReplyError && cmd[1] !== 'SETNAME' && !(cmd[0] === 'ROLE' && r.message.startsWith('NOPERM'))) throw r;
    });
    if (o.role) {
      const reply = replies.pop();
      const role = Array.isArray(reply) ? reply[0] : o.role;
      if (role !== o.role) throw new Error(`redis at ${this.where ?? '?'} is a ${String(role)}, not the ${o.role}`);
    }
    if (o.clientId) this.clientId = Number(replies[replies.length - 1]);
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.lastDataAt = Date.now();
    const buf = this.received;
    buf.append(chunk);
    const c = this.cursor;
    // Each reply is decoded once it is all there (ReceiveBuffer walks the framing as bytes arrive).
    for (let reply = buf.next(); reply !== undefined; reply = this.socket === socket ? buf.next() : undefined) {
      const w = this.waiting[this.head];
      if (!w) {
        this.drop(socket, new Error('reply without a request: connection out of step'));
        return;
      }
      c.b = reply;
      c.o = 0;
      let value: unknown;
      try {
        value = w.decode(c);
        if (c.o !== reply.length) throw INCOMPLETE;
      } catch (err) {
        this.drop(socket, err === INCOMPLETE ? new Error('malformed reply') : err instanceof Error ? err : new Error(String(err)));
        return;
      } finally {
        c.b = EMPTY; // hold no reference to the reply
      }
      this.lastReplyBytes = reply.length;
      this.waiting[this.head++] = undefined as unknown as Waiting;
      if (this.head === this.waiting.length) {
        this.waiting.length = 0;
        this.head = 0;
      }
      if (value instanceof RespReplyError && RECONNECT_ON.test(value.message)) this.markStale(value);
      w.done(value);
    }
    if (this.stale !== undefined && this.socket === socket && this.head === this.waiting.length) this.drop(socket, new Error(this.stale));
  }

  /** A reply that calls for another server: note it (a MOVED target goes to `onRedirect`); reconnect when idle. */
  private markStale(err: RespReplyError): void {
    const r = err.redirect;
    if (r && r.kind === 'MOVED') this.o.onRedirect?.(r);
    this.stale = `reconnecting after ${err.message.split(' ')[0]}`;
  }

  /** Forgets `socket` (if it is the current one) and fails everything waiting on it. */
  private drop(socket: Socket, err: Error): void {
    if (socket === this.socket) {
      this.socket = undefined;
      this.stale = undefined;
      this.clientId = undefined;
      this.received.clear();
      const waiting = this.waiting.splice(this.head);
      this.waiting.length = 0;
      this.head = 0;
      for (const w of waiting) w.fail(err);
    }
    socket.destroy();
  }
}
