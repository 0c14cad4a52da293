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

const ANY = '\u0000*';
const key = (type: string | undefined, version: string | undefined): string => `${type ?? ANY}\u0001${version ?? ANY}`;

/**
 * The routing table of one (stream, group): an event goes to the method of its `type` and
 * `schemaversion`, else of its type and any version, else of any type and its version, else of any
 * type and version; with none, it is dead-lettered at once with reason `unrouted`.
 */
export class StreamRouter {
  private readonly table = new Map<string, RouteTarget>();

  /**
   * @param stream The stream routed (named in errors).
   * @param group The consumer group routed (named in errors).
   */
  constructor(
    readonly stream: string,
    readonly group: string,
  ) {}

  /** Adds a route; throws when another method already takes the same type and schema version. */
  add(target: RouteTarget): void {
    const k = key(target.type, target.schemaVersion);
    const taken = this.table.get(k);
    if (taken) {
      throw new Error(
        `@StreamHandler: ${target.name} and ${taken.name} both take stream "${this.stream}" group "${this.group}" ` +
          `type ${target.type ? `"${target.type}"` : '(any)'} schemaVersion ${target.schemaVersion ? `"${target.schemaVersion}"` : '(any)'}`,
      );
    }
    this.table.set(k, target);
  }

  /** The routes, in the order added. */
  routes(): RouteTarget[] {
    return [...this.table.values()];
  }

  /** The method taking `event`, or undefined. */
  resolve(event: Pick<StreamEvent, 'type' | 'schemaversion'>): RouteTarget | undefined {
    const t = this.table;
    const v = event.schemaversion;
    return (
      (v !== undefined ? t.get(key(event.type, v)) : undefined) ??
      t.get(key(event.type, undefined)) ??
      (v !== undefined ? t.get(key(undefined, v)) : undefined) ??
      t.get(key(undefined, undefined))
    );
  }

  /** The worker handler: routes, and runs the method with the event's correlation as the current one. */
  readonly handle: Handler = (event: StreamEvent, ctx: HandlerContext) => {
    const target = this.resolve(event);
    if (!target) {
      throw new DeadLetterError(
        'unrouted',
        `no @StreamHandler takes type "${event.type}" schemaversion ${event.schemaversion === undefined ? '(none)' : `"${event.schemaversion}"`} on stream "${this.stream}" group "${this.group}"`,
      );
    }
    const correlation = event.traceparent ? { correlationId: event.correlationid, traceparent: event.traceparent } : { correlationId: event.correlationid };
    return runWithCorrelation(correlation, () => target.handle(event, ctx));
  };
}
