/**
 * @stream-workers/nestjs: Redis Streams workers for NestJS 11 and 12. The @nestjs/terminus health
 * indicator is `@stream-workers/nestjs/terminus`.
 * @packageDocumentation
 */
export { StreamWorkersModule, checkModuleOptions } from './module';
export { StreamHandler, streamHandlerRoutes, type StreamHandlerOptions } from './stream-handler.decorator';
export { StreamPublisher, DEFAULT_SOURCE } from './publisher';
export { StreamWorkersRuntime, type GroupRuntime } from './runtime';
export { StreamRouter, type RouteTarget } from './router';
export { MetricsBridge } from './metrics-bridge';
export { CorrelationInterceptor, currentCorrelation, runWithCorrelation, correlationOfHeaders, type CorrelationContext } from './correlation';
export { STREAM_WORKERS_OPTIONS, STREAM_HANDLER_METADATA } from './constants';
export type { StreamWorkersModuleOptions, StreamWorkersModuleAsyncOptions, WorkerTuning, GroupTuning } from './options';
export type { StreamEvent } from '@stream-workers/core';
export type { HandlerContext } from '@stream-workers/worker';
