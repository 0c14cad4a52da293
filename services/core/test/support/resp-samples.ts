/** RESP2 test material shared by the reader tests (receive-buffer, stream-consumer). */

/** RESP2 encoding of nested arrays of strings (null: a null array), lengths in bytes. */
export function resp(v: unknown): string {
  if (v === null) return '*-1\r\n';
  if (Array.isArray(v)) return `*${v.length}\r\n${v.map(resp).join('')}`;
  return `$${Buffer.byteLength(String(v))}\r\n${String(v)}\r\n`;
}

/** One reply of each shape a reader meets, the awkward ones included (multi-byte text, CR and CRLF inside bulk strings). */
export const SAMPLE_REPLIES: readonly string[] = [
  resp([['abc', [['1-0', ['type', 't', 'data', '{"é":1}']], ['2-0', null]]]]),
  '*-1\r\n',
  '$-1\r\n',
  '+OK\r\n',
  '-NOGROUP No such key\r\n',
  ':42\r\n',
  '*0\r\n',
  '$0\r\n\r\n',
  '*3\r\n$1\r\n\r\r\n*1\r\n:7\r\n$2\r\n\r\n\r\n',
];
