import { parseEntry } from '../envelope';
import type { EnvelopeCodec } from './codec';

/** The default codec: flat CloudEvents attributes as fields (docs/design.md, "Event envelope"), read by `parseEntry`. */
export const cloudEventsCodec: EnvelopeCodec = {
  name: 'cloudevents',
  decode: (fields) => parseEntry(fields),
};
