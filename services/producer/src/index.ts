/**
 * @stream-workers/producer: the publishing library. Importing it does not load express; the HTTP
 * service is `@stream-workers/producer/http`.
 * @packageDocumentation
 */
export { createPublisher, type Publisher, type PublisherOptions } from './publisher';
export {
  StreamProducer,
  PublishValidationError,
  PublishLimitError,
  PublishNotReplicatedError,
  PublishUnavailableError,
  type StreamProducerOptions,
  type PublishOptions,
  type PublishResult,
  type StreamEvent,
  type BuildContext,
  type FieldError,
} from '@stream-workers/core';
export * from './load/run-load';
