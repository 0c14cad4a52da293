/** Injection token of the {@link ExampleConfig}. */
export const CONFIG = Symbol('example-config');
/** Injection token of the example's own Redis connection (its handlers record what they did there). */
export const REDIS = Symbol('example-redis');

/** Keys the handlers record into: a set of order ids per handler method. */
export const processedKey = (stream: string, what: string): string => `${stream}:processed:${what}`;
