import { cloudEventsCodec } from './cloudevents';
import { DEFAULT_ENVELOPE_FIELD, ENVELOPES, type EnvelopeCodec, type EnvelopeName } from './codec';
import { flatFieldsCodec } from './flat-fields';
import { jsonFieldCodec } from './json-field';

export * from './codec';
export { cloudEventsCodec } from './cloudevents';
export { jsonFieldCodec } from './json-field';
export { flatFieldsCodec } from './flat-fields';

/** The codec named by `ENVELOPE` (`field`: `ENVELOPE_FIELD`, read by `json-field` only). */
export function createCodec(name: EnvelopeName, field: string = DEFAULT_ENVELOPE_FIELD): EnvelopeCodec {
  switch (name) {
    case 'cloudevents':
      return cloudEventsCodec;
    case 'json-field':
      return jsonFieldCodec(field);
    case 'fields':
      return flatFieldsCodec;
    default:
      throw new RangeError(`unknown envelope ${JSON.stringify(name)}: expected one of ${ENVELOPES.join(', ')}`);
  }
}
