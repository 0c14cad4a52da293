import { errorFields, fieldsToObject, isNoGroupError, moveToDeadLetter, type DeadLetterReason } from '@stream-workers/core';
import type { Held, WorkerState } from './state';

/**
 * Moves a held entry to the dead-letter stream (copied and acked in one MULTI), retried a few times;
 * when that keeps failing the entry stays pending (no longer kept fresh: reclaimed after claimIdleMs
 * and dead-lettered then). Emits `deadLettered`.
 */
export async function deadLetter(s: WorkerState, id: string, h: Held, reason: DeadLetterReason, error: string): Promise<void> {
  const { o, log } = s;
  const entry = { entryId: id, fields: h.fields, reason, error, deliveries: h.deliveries, consumer: o.consumer };
  for (let attempt = 1; ; attempt++) {
    try {
      await moveToDeadLetter(s.cmd, o.stream, o.group, o.deadLetterStream, [entry]);
      break;
    } catch (err) {
      s.onCommandError(err);
      if (attempt >= 5 || s.stopping || isNoGroupError(err)) {
        log.error({ entryId: id, reason, ...errorFields(err) }, 'could not move the entry to the dead-letter stream; leaving it pending');
        s.emitError('dead-letter', err, false, id);
        s.held.delete(id);
        return;
      }
      await s.sleep(100 * attempt);
    }
  }
  s.held.delete(id);
  s.m.deadLetter.inc();
  const envelope = fieldsToObject(h.fields);
  log.warn({ entryId: id, correlationid: envelope.correlationid, reason, deliveries: h.deliveries, error, deadLetterStream: o.deadLetterStream }, 'entry moved to the dead-letter stream');
  if (s.events.has('deadLettered')) {
    s.events.emit('deadLettered', { entryId: id, eventId: envelope.id, reason, error, deliveries: h.deliveries, deadLetterStream: o.deadLetterStream });
  }
}
