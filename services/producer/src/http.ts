/**
 * @stream-workers/producer/http: the producer HTTP service (express), as `main.ts` runs it.
 * @packageDocumentation
 */
export * from './config';
export * from './app';
