import 'reflect-metadata';
import { STREAM_HANDLER_METADATA } from './constants';

/** Options of {@link StreamHandler}: where the method consumes and which events it takes. */
export interface StreamHandlerOptions {
  /** The stream read. */
  stream: string;
  /** The consumer group read in; one worker runtime per (stream, group). */
  group: string;
  /** The event `type` taken; default every type no other method of the (stream, group) takes. */
  type?: string;
  /** The `schemaversion` taken (exact match); default every version no other method takes. */
  schemaVersion?: string;
}

const NAME = /^[\x21-\x7e]{1,256}$/;

/**
 * Marks a provider method as the handler of events of a (stream, group), optionally of one `type`
 * and `schemaVersion`; may be applied more than once to a method. Found at bootstrap. The method is
 * called as `(event: StreamEvent, ctx: HandlerContext)`: resolve = done (acked), throw = retried,
 * then dead-lettered. Throws at decoration time for an option that is not a printable name.
 */
export function StreamHandler(options: StreamHandlerOptions): MethodDecorator {
  for (const key of ['stream', 'group', 'type', 'schemaVersion'] as const) {
    const v = options?.[key];
    const required = key === 'stream' || key === 'group';
    if ((required || v !== undefined) && (typeof v !== 'string' || !NAME.test(v))) {
      throw new TypeError(`@StreamHandler: option ${key} must be a printable string without spaces (1-256 characters), got ${JSON.stringify(v) ?? 'undefined'}`);
    }
  }
  const route: StreamHandlerOptions = { ...options };
  return (_target, _key, descriptor) => {
    const fn = descriptor.value as unknown;
    if (typeof fn !== 'function') throw new TypeError('@StreamHandler: applies to methods only');
    const prev = (Reflect.getMetadata(STREAM_HANDLER_METADATA, fn) as StreamHandlerOptions[] | undefined) ?? [];
    Reflect.defineMetadata(STREAM_HANDLER_METADATA, [...prev, route], fn);
    return descriptor;
  };
}

/** The {@link StreamHandler} routes declared on a method (none: an empty array). */
export function streamHandlerRoutes(method: unknown): readonly StreamHandlerOptions[] {
  if (typeof method !== 'function') return [];
  return (Reflect.getMetadata(STREAM_HANDLER_METADATA, method) as StreamHandlerOptions[] | undefined) ?? [];
}
