import type Redis from 'ioredis';
import { CliError, EXIT, usage } from './errors';
import { hasFilter, type DlqFlags } from './flags';
import { Progress, details, table, type Out } from './output';
import { replayMany } from './replay-script';
import { byIds, checkStreams, scan, type DeadLetter } from './store';

const ENTRY_ID = /^\d+-\d+$/;

function checkIds(ids: readonly string[]): void {
  const bad = ids.find((id) => !ENTRY_ID.test(id));
  if (bad !== undefined) throw usage(`dead letter id ${JSON.stringify(bad)} is invalid: expected a stream entry id <ms>-<seq>`);
}

/** `dlq ls`: the matching dead letters (default at most 100), as a table or a JSON array. */
export async function ls(redis: Redis, f: DlqFlags, out: Out): Promise<number> {
  await checkStreams(redis, f);
  const rows: DeadLetter[] = [];
  for await (const page of scan(redis, f)) rows.push(...page);
  out.stdout(f.json ? JSON.stringify(rows) + '\n' : rows.length === 0 ? `no dead letters in ${f.deadLetterStream} match\n` : table(rows));
  return EXIT.ok;
}

/** `dlq show <id>`: one dead letter in full; exit 4 when it is not there. */
export async function show(redis: Redis, f: DlqFlags, id: string, out: Out): Promise<number> {
  checkIds([id]);
  await checkStreams(redis, f);
  const { found } = await byIds(redis, f, [id]);
  const d = found[0];
  if (!d) throw new CliError(`dead letter ${id} is not in ${f.deadLetterStream}`, EXIT.notFound);
  out.stdout(f.json ? JSON.stringify(d) + '\n' : details(d));
  return EXIT.ok;
}

interface Outcome {
  id: string;
  /** replay: the new entry id in the origin stream; purge: the id deleted; null: gone already. */
  result: string | null;
}

/**
 * Runs `act` on the dead letters named by `ids`, else on those the filters match, a page at a time,
 * with progress; prints a summary (or JSON). Exit 4 when a named id is not there.
 */
async function each(
  redis: Redis,
  f: DlqFlags,
  ids: readonly string[],
  verb: string,
  act: (page: DeadLetter[]) => Promise<Outcome[]>,
  out: Out,
): Promise<number> {
  checkIds(ids);
  await checkStreams(redis, f);
  const progress = new Progress(out, f.dryRun ? `${verb} (dry run)` : verb, await redis.xlen(f.deadLetterStream), f.progress);
  const outcomes: Outcome[] = [];
  let missing: string[] = [];
  const run = async (page: DeadLetter[]): Promise<void> => {
    outcomes.push(...(f.dryRun ? page.map((d) => ({ id: d.id, result: null })) : await act(page)));
    progress.update(outcomes.length);
  };
  if (ids.length > 0) {
    const r = await byIds(redis, f, ids);
    missing = r.missing;
    if (r.found.length > 0) await run(r.found);
  } else {
    for await (const page of scan(redis, f)) await run(page);
  }
  progress.finish(outcomes.length);
  const done = outcomes.filter((o) => o.result !== null).length;
  const summary = { dryRun: f.dryRun, matched: outcomes.length, [verb]: f.dryRun ? 0 : done, skipped: f.dryRun ? 0 : outcomes.length - done, missing, entries: outcomes };
  if (f.json) out.stdout(JSON.stringify(summary) + '\n');
  else if (f.dryRun) out.stdout(`dry run: would have ${verb} ${outcomes.length} dead letter(s) of ${f.deadLetterStream}; nothing changed\n`);
  else out.stdout(`${verb} ${done} of ${outcomes.length} matched dead letter(s) of ${f.deadLetterStream}; ${outcomes.length - done} skipped (gone already: replayed or purged meanwhile)\n`);
  if (missing.length > 0) throw new CliError(`not in ${f.deadLetterStream}: ${missing.join(', ')}`, EXIT.notFound);
  return EXIT.ok;
}

/** `dlq replay [ids…]`: each dead letter back to its origin stream and deleted, in one Lua step each. */
export function replay(redis: Redis, f: DlqFlags, ids: readonly string[], out: Out): Promise<number> {
  return each(redis, f, ids, 'replayed', async (page) => {
    const results = await replayMany(redis, f.deadLetterStream, f.stream, page.map((d) => d.id));
    return page.map((d, i) => ({ id: d.id, result: results[i] ?? null }));
  }, out);
}

/** `dlq purge [ids…]`: deletes dead letters; without ids it needs a filter or --all. */
export function purge(redis: Redis, f: DlqFlags, ids: readonly string[], out: Out): Promise<number> {
  if (ids.length === 0 && !hasFilter(f) && !f.all) {
    throw usage('purge deletes dead letters: name ids, a filter (--type, --reason, --since, --limit), or --all');
  }
  return each(redis, f, ids, 'purged', async (page) => {
    const p = redis.pipeline();
    for (const d of page) p.xdel(f.deadLetterStream, d.id);
    const replies = (await p.exec()) ?? [];
    return page.map((d, i) => {
      const [err, n] = replies[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      return { id: d.id, result: n === 1 ? d.id : null };
    });
  }, out);
}
