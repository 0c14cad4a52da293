import type { Request, Response, RequestHandler } from 'express';
import express from 'express';
import { BATCH_TYPE, STRUCTURED_TYPE, fromBinaryHttp, isBinaryMode, type Problem } from '@stream-workers/core';

/** A request's events, before they are built and appended. */
export interface RequestEvents {
  events: unknown[];
  /** A batch: fields are named by position (`[3].type`). */
  isBatch: boolean;
  /** Binary mode: fields are named as headers (`ce-type`, `content-type`, `(body)`). */
  binary: boolean;
}

/** Why a request holds no usable events: the reason counted and the problem answered. */
export class RequestRejected extends Error {
  constructor(
    readonly reason: 'invalid' | 'too_large' | 'unsupported_media_type',
    readonly problem: Problem,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail ?? problem.title);
    this.name = 'RequestRejected';
  }
}

const PLAIN_JSON = 'application/json';
const invalid = (detail: string, field = '(body)', message = detail) =>
  new RequestRejected('invalid', { title: 'Bad Request', status: 400, detail, errors: [{ field, message }] });

/**
 * Reads the events of a publish request in any mode of the CloudEvents HTTP binding: binary (a
 * `ce-specversion` header; any content type), structured (`application/cloudevents+json`, or plain
 * `application/json` with the attributes) or batch (`application/cloudevents-batch+json`). Bodies are
 * read as bytes, bounded by `maxEventBytes` (one event) or `maxBatchBytes` (batch).
 */
export class EventReader {
  private readonly single: RequestHandler;
  private readonly batch: RequestHandler;

  constructor(
    private readonly maxEventBytes: number,
    private readonly maxBatchBytes: number,
  ) {
    this.single = express.raw({ type: () => true, limit: maxEventBytes });
    this.batch = express.raw({ type: () => true, limit: maxBatchBytes });
  }

  async read(req: Request, res: Response): Promise<RequestEvents> {
    const [mediaType, charset] = parseContentType(req.headers['content-type']);
    if (isBinaryMode(req.headers)) {
      const body = await this.body(req, res, false);
      const r = fromBinaryHttp(req.headers, body);
      if (!r.ok) throw new RequestRejected('invalid', { title: 'Bad Request', status: 400, detail: `invalid binary-mode event: ${r.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, errors: r.errors });
      return { events: [r.input], isBatch: false, binary: true };
    }
    const isBatch = mediaType === BATCH_TYPE;
    if (!isBatch && mediaType !== STRUCTURED_TYPE && mediaType !== PLAIN_JSON) {
      throw new RequestRejected('unsupported_media_type', {
        title: 'Unsupported Media Type',
        status: 415,
        detail: `content type "${mediaType || '(none)'}" is not accepted; send a binary-mode event (ce-specversion and the other ce-* headers, the data as the body, any content type), ${STRUCTURED_TYPE} or ${PLAIN_JSON} (one event), or ${BATCH_TYPE} (a JSON array)`,
      });
    }
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      throw new RequestRejected('unsupported_media_type', { title: 'Unsupported Media Type', status: 415, detail: `charset "${charset}" is not accepted; send UTF-8` });
    }
    const parsed = parseJson(await this.body(req, res, isBatch));
    if (isBatch) {
      if (!Array.isArray(parsed)) throw invalid('a batch must be a JSON array of events', '(body)', 'must be a JSON array of events');
      if (parsed.length === 0) throw invalid('a batch must hold at least one event', '(body)', 'must hold at least one event');
      return { events: parsed, isBatch, binary: false };
    }
    if (Array.isArray(parsed)) {
      throw invalid(`a JSON array is a batch: send it as ${BATCH_TYPE} (${mediaType} carries one event)`, '(body)', `must be one event object; send arrays as ${BATCH_TYPE}`);
    }
    return { events: [parsed], isBatch, binary: false };
  }

  /** The body (raw bytes, bounded); a body over the limit is a 413 naming the limit. */
  private body(req: Request, res: Response, isBatch: boolean): Promise<Buffer> {
    const limit = isBatch ? this.maxBatchBytes : this.maxEventBytes;
    return new Promise<Buffer>((resolve, reject) => {
      (isBatch ? this.batch : this.single)(req, res, (err?: unknown) => {
        if (err) {
          const e = err as { type?: string; message?: string };
          if (e.type === 'entity.too.large') {
            reject(new RequestRejected('too_large', { title: 'Payload Too Large', status: 413, detail: `request body exceeds the limit of ${limit} bytes`, limit: isBatch ? 'MAX_BATCH_BYTES' : 'MAX_EVENT_BYTES', max: limit }, { Connection: 'close' }));
            return;
          }
          reject(new RequestRejected('invalid', { title: 'Bad Request', status: 400, detail: `cannot read the request body: ${e.message ?? String(err)}` }));
          return;
        }
        resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      });
    });
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new RequestRejected('invalid', { title: 'Invalid JSON', status: 400, detail: `request body is not valid JSON: ${(err as Error).message}`, errors: [{ field: '(body)', message: 'is not valid JSON' }] });
  }
}

/** `[media type (lower case), charset (lower case) or undefined]`. */
export function parseContentType(header: string | undefined): [string, string | undefined] {
  if (!header) return ['', undefined];
  const [type, ...params] = header.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k?.trim().toLowerCase() === 'charset' && v) charset = v.trim().replace(/^"|"$/g, '').toLowerCase();
  }
  return [type!.trim().toLowerCase(), charset];
}
