import type { Express } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { problemHandler, sendProblem } from './problem';
import { errorFields } from './logger';

/** The answer of a readiness check: ready, or not with a reason shown in `/readyz`. */
export type Readiness = { ready: true } | { ready: false; reason: string };

/** Options for {@link OpsServer}. */
export interface OpsServerOptions {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Interface to bind; default all. */
  host?: string;
  registry: Registry;
  /** Called on every `/readyz`; must be cheap (state the service keeps, not a Redis round trip). */
  readiness: () => Readiness;
  logger: Logger;
  /** Mounts the service's own routes before the ops routes' 404 and error handlers. */
  routes?: (app: Express) => void;
}

/**
 * The HTTP server every service runs: `GET /livez` (the process is alive), `GET /readyz` (503 while
 * Redis is unreachable or while draining), `GET /metrics` (Prometheus text format), plus the
 * service's own routes. Errors answer `application/problem+json`.
 */
export class OpsServer {
  readonly app: Express;
  private server: Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: OpsServerOptions) {
    // Loaded here, not on import: the libraries (@stream-workers/core, worker, producer) run without express.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load: express is an optional dependency of the libraries
    const express = require('express') as typeof import('express');
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    // While closing, every answer ends its keep-alive connection, so close() does not wait out idle sockets.
    app.use((_req, res, next) => {
      const writeHead = res.writeHead;
      // Decided when the answer starts, not when the request arrived: a slow request answered after
      // close() began must end its connection too.
      res.writeHead = ((...args: Parameters<typeof writeHead>) => {
        if (this.closing && !res.headersSent) res.setHeader('Connection', 'close');
        return writeHead.apply(res, args);
      }) as typeof writeHead;
      next();
    });
    app.get('/livez', (_req, res) => {
      res.type('text/plain').send('ok\n');
    });
    app.get('/readyz', (_req, res) => {
      const r = opts.readiness();
      if (r.ready) res.type('text/plain').send('ready\n');
      else res.status(503).type('text/plain').send(`not ready: ${r.reason}\n`);
    });
    app.get('/metrics', async (_req, res, next) => {
      try {
        const body = await opts.registry.metrics();
        // No ETag: a scrape is never conditional, and hashing a large exposition costs more than sending it.
        res.type(opts.registry.contentType).end(body);
      } catch (err) {
        next(err);
      }
    });
    opts.routes?.(app);
    app.use((req, res) => sendProblem(res, { title: 'Not Found', status: 404, detail: `no route for ${req.method} ${req.path}` }));
    app.use(problemHandler((err, req) => opts.logger.error({ ...errorFields(err), path: req.path }, 'unexpected error in HTTP handler')));
    this.app = app;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const server = this.app.listen(this.opts.port, this.opts.host ?? '0.0.0.0');
    this.server = server;
    server.keepAliveTimeout = 65_000; // above common load-balancer idle timeouts
    await new Promise<void>((resolve, reject) => {
      server.once('listening', () => resolve());
      server.once('error', reject);
    });
    return (server.address() as AddressInfo).port;
  }

  /** The bound port (after `listen`). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * Stops accepting connections and waits for in-flight requests; idle keep-alive connections are
   * closed at once. Idempotent.
   */
  close(): Promise<void> {
    if (!this.server) return Promise.resolve();
    const server = this.server;
    this.closing ??= new Promise<void>((resolve) => {
      // Connections that were busy when close() began turn idle after their answer: close those too.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.close(() => {
        clearInterval(sweep);
        resolve();
      });
      server.closeIdleConnections();
    });
    return this.closing;
  }
}
