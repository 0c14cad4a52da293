import { Contracts, createCodec, type EnvelopeCodec, type StreamEvent } from '@stream-workers/core';
import type { ResolvedWorkerOptions } from './options';

/** An entry the worker can run, or why it goes to the dead-letter stream at once. */
export type Decoded = { ok: true; event: StreamEvent } | { ok: false; reason: 'malformed' | 'schema'; error: string };

/**
 * Turns a stream entry into the handler's event: the envelope codec (`ENVELOPE`) reads it, then the
 * handler's contract for its type and version (if any) checks the payload. Built once per worker.
 */
export class EntryDecoder {
  private readonly codec: EnvelopeCodec;
  private readonly contracts: Contracts | undefined;

  /** Throws (TypeError, naming `contracts[i]…`) for contracts of the wrong shape or schemas ajv rejects. */
  constructor(
    private readonly o: Pick<ResolvedWorkerOptions, 'stream' | 'envelope' | 'envelopeField'>,
    contracts: unknown,
  ) {
    this.codec = createCodec(o.envelope, o.envelopeField);
    const c = contracts === undefined ? undefined : new Contracts(contracts);
    this.contracts = c && c.size > 0 ? c : undefined;
  }

  decode(entryId: string, fields: readonly string[]): Decoded {
    const r = this.codec.decode(fields, { stream: this.o.stream, entryId });
    if (!r.ok) return { ok: false, reason: 'malformed', error: r.reason };
    if (this.contracts) {
      const e = r.event;
      const failure = this.contracts.check(e.type, e.schemaversion, e.data);
      if (failure !== undefined) {
        const version = e.schemaversion === undefined ? '' : ` version ${e.schemaversion}`;
        return { ok: false, reason: 'schema', error: `${failure} (contract of type ${JSON.stringify(e.type)}${version})` };
      }
    }
    return r;
  }
}
