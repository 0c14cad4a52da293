import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import schema from './event.schema.json';

/** A field that failed validation, named as the client sent it. */
export interface FieldError {
  field: string;
  message: string;
}

/** The event JSON Schema (`event.schema.json`): the one definition of a valid input event. */
export const EVENT_SCHEMA: Readonly<Record<string, unknown>> = schema;

/** Attribute names the envelope knows itself; any other name that passes the schema is an extension. */
export const CONTEXT_ATTRIBUTES: ReadonlySet<string> = new Set(Object.keys(schema.properties));

/** CloudEvents extension attribute names (lowercase a-z and 0-9), as the schema's patternProperties say. */
export const EXTENSION_NAME = new RegExp(Object.keys(schema.patternProperties)[0]!);

// Compiled once at load. `x-message` is the schema's own wording of each rule, used in the errors;
// strictRequired off: `not`/`if` name `required` properties that their own subschema does not define.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, verbose: true, validateFormats: false });
ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' });
const validate = ajv.compile(schema);

/**
 * Validates an input event against {@link EVENT_SCHEMA}. Returns one error per failing field (named
 * with `prefix`, e.g. `[3].type`), worded by the schema's `x-message`; an empty list when valid.
 */
export function schemaErrors(input: unknown, prefix = ''): FieldError[] {
  if (validate(input)) return [];
  const at = (f: string) => (prefix ? `${prefix}.${f}` : f || '(body)');
  const byField = new Map<string, string>();
  // Errors worded by the schema first (an anyOf's own message beats its branches' "must be string").
  const errors = [...(validate.errors ?? [])].sort((a, b) => Number(hasMessage(b)) - Number(hasMessage(a)));
  for (const e of errors) {
    const m = describe(e);
    if (!m || byField.has(m[0])) continue;
    byField.set(m[0], m[1]);
  }
  if (byField.size === 0) byField.set('', 'must be a JSON object with the event attributes');
  return [...byField].map(([field, message]) => ({ field: field === '' ? prefix || '(body)' : at(field), message }));
}

function hasMessage(e: ErrorObject): boolean {
  return typeof (e.parentSchema as { 'x-message'?: unknown } | undefined)?.['x-message'] === 'string';
}

/** `[field, message]` for one ajv error, or undefined for errors that only restate another (anyOf, if). */
function describe(e: ErrorObject): [string, string] | undefined {
  const field = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
  const own = (e.parentSchema as { 'x-message'?: string } | undefined)?.['x-message'];
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return [field ? `${field}.${missing}` : missing, 'is required'];
    }
    case 'additionalProperties': {
      const name = (e.params as { additionalProperty: string }).additionalProperty;
      return [field ? `${field}.${name}` : name, 'is not a known event attribute, nor an extension name (lowercase a-z and 0-9, at most 64)'];
    }
    case 'not':
      return ['data_base64', 'cannot be sent together with data'];
    case 'type':
      if (field === '') return ['', 'must be a JSON object with the event attributes'];
      return [field, own ?? `must be of type ${(e.params as { type: string }).type}`];
    case 'if':
      return undefined;
    default:
      return [field, own ?? e.message ?? 'is invalid'];
  }
}
