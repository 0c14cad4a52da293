/** One row of the demo's timeline, taken every second. Null = the source did not answer. */
export interface Sample {
  /** Seconds since the load started (negative before). */
  t: number;
  /** Scenario phase (`quiet`, `ramp`, `burst`, `cooldown`), or `drain`/`stopping` after the load. */
  phase: string;
  /** Events acknowledged to the load generator so far (cumulative). */
  published: number;
  /** Stream entries appended so far (XINFO STREAM entries-added). */
  added: number;
  /** Distinct events the handlers completed so far (the ledger). */
  processed: number;
  /** Entries in the dead-letter stream. */
  deadLetters: number;
  /** Entries appended per second since the previous sample. */
  inRate: number | null;
  /** Events processed per second since the previous sample. */
  outRate: number | null;
  /** From the lag exporter's /api/v1/backlog: lag + pending, the autoscaling signal. */
  outstanding: number | null;
  lag: number | null;
  pending: number | null;
  /** Age of the oldest undelivered entry, in s. */
  lagSeconds: number | null;
  /** Age of the oldest delivered-but-unacked entry, in s. */
  oldestPendingSeconds: number | null;
  /** Consumers of the group. */
  consumers: number | null;
  /** The autoscaler's `stream_workers_autoscaler_desired_replicas`. */
  desired: number | null;
  /** The autoscaler's `stream_workers_autoscaler_current_replicas`. */
  current: number | null;
  /** Worker processes alive right now (counted in the process table). */
  running: number;
}
