/** Injection token of the resolved {@link StreamWorkersModuleOptions} (forRoot / forRootAsync). */
export const STREAM_WORKERS_OPTIONS = Symbol.for('@stream-workers/nestjs/options');

/** Metadata key of the {@link StreamHandler} routes on a method. */
export const STREAM_HANDLER_METADATA = Symbol.for('@stream-workers/nestjs/stream-handler');
