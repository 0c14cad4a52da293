import { DeadLetterError, type StreamEvent } from '@stream-workers/core';
import type { Handler, HandlerContext } from '@stream-workers/worker';
import { runWithCorrelation } from './correlation';

/** One routed method: bound to its provider instance, and named for errors. */
export interface RouteTarget {
  /** The event `type` taken; undefined: any. */
  type?: string;
  /** The `schemaversion` taken; undefined: any. */
  schemaVersion?: string;
  /** The method, bound to its instance. */
  handle: Handler;
  /** `Class.method`, for errors and logs. */
  name: string;
}

/** The key of "any type" / "any version" in the tables (not a printable name, so no event has it). */
const ANY = '\u0000*';

/**
 * The routing table of one (stream, group): an event goes to the method of its `type` and
 * `schemaversion`, else of its type and any version, else of any type and its version, else of any
 * type and version; with none, it is dead-lettered at once with reason `unrouted`.
 */
export class StreamRouter {
  /** type (or ANY) → schema version (or ANY) → method: lookups build no strings per event. */
  private readonly table = new Map<string, Map<string, RouteTarget>>();
  private readonly added: RouteTarget[] = [];

  /**
   * @param stream The stream routed (named in errors).
   * @param group The consumer group routed (named in errors).
   * @param correlate Run each method with the event's correlation as the current one (default true).
   */
  constructor(
    readonly stream: string,
    readonly group: string,
    private readonly correlate = true,
  ) {}

  /** Adds a route; throws when another method already takes the same type and schema version. */
  add(target: RouteTarget): void {
    let byVersion = this.table.get(target.type ?? ANY);
    if (!byVersion) this.table.set(target.type ?? ANY, (byVersion = new Map()));
    const taken = byVersion.get(target.schemaVersion ?? ANY);
    if (taken) {
      throw new Error(
        `@StreamHandler: ${target.name} and ${taken.name} both take stream "${this.stream}" group "${this.group}" ` +
          `type ${target.type ? `"${target.type}"` : '(any)'} schemaVersion ${target.schemaVersion ? `"${target.schemaVersion}"` : '(any)'}`,
      );
    }
    byVersion.set(target.schemaVersion ?? ANY, target);
    this.added.push(target);
  }

  /** The routes, in the order added. */
  routes(): RouteTarget[] {
    return [...this.added];
  }

  /** The method taking `event`, or undefined. */
  resolve(event: Pick<StreamEvent, 'type' | 'schemaversion'>): RouteTarget | undefined {
    const v = event.schemaversion;
    const ofType = this.table.get(event.type);
    const anyType = this.table.get(ANY);
    return (
      (v !== undefined ? ofType?.get(v) : undefined) ??
      ofType?.get(ANY) ??
      (v !== undefined ? anyType?.get(v) : undefined) ??
      anyType?.get(ANY)
    );
  }

  /**
   * The worker handler: routes, and runs the method with the event's correlation as the current one.
   * Per event: two or four map lookups, one small object and one AsyncLocalStorage.run (without
   * `correlate`, only the lookups).
   */
  readonly handle: Handler = (event: StreamEvent, ctx: HandlerContext) => {
    const target = this.resolve(event);
    if (!target) {
      throw new DeadLetterError(
        'unrouted',
        `no @StreamHandler takes type "${event.type}" schemaversion ${event.schemaversion === undefined ? '(none)' : `"${event.schemaversion}"`} on stream "${this.stream}" group "${this.group}"`,
      );
    }
    if (!this.correlate) return target.handle(event, ctx);
    const correlation = event.traceparent ? { correlationId: event.correlationid, traceparent: event.traceparent } : { correlationId: event.correlationid };
    return runWithCorrelation(correlation, target.handle, event, ctx);
  };
}
