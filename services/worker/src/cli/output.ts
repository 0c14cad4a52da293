import type { DeadLetter } from './store';

/** Writes to stdout (results) or stderr (progress, errors); tests and scripts read stdout only. */
export interface Out {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processOut: Out = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

function cell(s: string | number | undefined, width: number): string {
  const v = s === undefined ? '-' : String(s).replace(/\s+/g, ' ');
  return v.length > width ? v.slice(0, width - 1) + '…' : v.padEnd(width);
}

/** The `ls` table: one line per dead letter. */
export function table(rows: readonly DeadLetter[]): string {
  const head = `${cell('ID', 16)} ${cell('REASON', 14)} ${cell('TYPE', 22)} ${cell('EVENT ID', 36)} ${cell('DELIV', 5)} ${cell('DEAD-LETTERED AT', 24)} ERROR`;
  const lines = rows.map(
    (d) => `${cell(d.id, 16)} ${cell(d.reason, 14)} ${cell(d.type === '' ? '(none)' : d.type, 22)} ${cell(d.eventId, 36)} ${cell(d.deliveries, 5)} ${cell(d.time, 24)} ${cell(d.error, 80).trimEnd()}`,
  );
  return [head, ...lines].join('\n') + '\n';
}

/** The `show` text: the dead-letter fields, then the event. */
export function details(d: DeadLetter): string {
  const lines = [
    `dead letter   ${d.id}`,
    `origin id     ${d.originId ?? '-'}`,
    `reason        ${d.reason ?? '-'}`,
    `error         ${d.error ?? '-'}`,
    `deliveries    ${d.deliveries ?? '-'}`,
    `consumer      ${d.consumer ?? '-'}`,
    `time          ${d.time ?? '-'}`,
    `type          ${d.type ?? '-'}`,
    `event id      ${d.eventId ?? '-'}`,
    `correlation   ${d.correlationId ?? '-'}`,
    'fields:',
    ...Object.entries(d.fields).map(([k, v]) => `  ${k} = ${v}`),
  ];
  if (d.data !== undefined) lines.push('data:', JSON.stringify(d.data, null, 2));
  return lines.join('\n') + '\n';
}

/**
 * Progress of a long run on stderr: a line at most once a second, the first after one second, and a
 * last one when a line was printed (short runs print none).
 */
export class Progress {
  private readonly started = Date.now();
  private last = Date.now();
  private printed = false;

  constructor(
    private readonly out: Out,
    private readonly verb: string,
    private readonly total: number,
    private readonly enabled: boolean,
  ) {}

  update(done: number): void {
    if (!this.enabled || Date.now() - this.last < 1000) return;
    this.last = Date.now();
    this.printed = true;
    this.out.stderr(`${this.verb} ${done} of at most ${this.total} (${((Date.now() - this.started) / 1000).toFixed(0)} s)\n`);
  }

  finish(done: number): void {
    if (this.printed) this.out.stderr(`${this.verb} ${done}: done in ${((Date.now() - this.started) / 1000).toFixed(1)} s\n`);
  }
}
