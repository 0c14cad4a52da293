import type { Request, Response, NextFunction, ErrorRequestHandler } from 'express';

/** RFC 9457 problem details, sent as `application/problem+json`. */
export interface Problem {
  /** A URI naming the kind of problem; `about:blank` when the status says it all. */
  type?: string;
  /** Short summary of the kind of problem. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What went wrong in this occurrence. */
  detail?: string;
  /** A URI naming this occurrence. */
  instance?: string;
  /** Extensions, e.g. `field`, `limit`. */
  [extension: string]: unknown;
}

/** An error that carries the problem to answer with. Throw it from a handler. */
export class HttpProblem extends Error {
  constructor(
    /** The problem document sent. */
    readonly problem: Problem,
    /** Extra response headers (e.g. `Retry-After`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail ?? problem.title);
    this.name = 'HttpProblem';
  }
}

/** Writes a problem response. */
export function sendProblem(res: Response, problem: Problem, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(problem.status).type('application/problem+json').send(JSON.stringify({ type: 'about:blank', ...problem }));
}

/**
 * Express error handler: `HttpProblem` as itself; body-parser errors (bad JSON, too large,
 * unsupported charset) as 400/413/415 problems; anything else as a 500 without internals.
 */
export function problemHandler(onUnexpected?: (err: unknown, req: Request) => void): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    if (res.headersSent) return;
    if (err instanceof HttpProblem) return sendProblem(res, err.problem, err.headers);
    const e = err as { type?: string; status?: number; limit?: number; message?: string };
    if (e && e.type === 'entity.too.large') {
      return sendProblem(res, { title: 'Payload Too Large', status: 413, detail: `request body exceeds the limit of ${e.limit} bytes`, limit: e.limit });
    }
    if (e && e.type === 'entity.parse.failed') {
      return sendProblem(res, { title: 'Invalid JSON', status: 400, detail: `request body is not valid JSON: ${e.message}` });
    }
    if (e && (e.type === 'charset.unsupported' || e.type === 'encoding.unsupported')) {
      return sendProblem(res, { title: 'Unsupported Media Type', status: 415, detail: e.message });
    }
    if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return sendProblem(res, { title: 'Bad Request', status: e.status, detail: e.message });
    }
    onUnexpected?.(err, req);
    sendProblem(res, { title: 'Internal Server Error', status: 500 });
  };
}
