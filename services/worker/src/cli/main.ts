#!/usr/bin/env node
/**
 * `stream-workers dlq ls|show|replay|purge` (`npx stream-workers …`): look at dead letters and act on
 * them. Results go to stdout (a table or, with --json, JSON), progress and errors to stderr; exit
 * codes in ./errors.ts (docs/dead-letters.md).
 */
import { Command, CommanderError, Option } from 'commander';
import type Redis from 'ioredis';
import { CliError, EXIT } from './errors';
import { checkFlags, type RawFlags } from './flags';
import { ls, purge, replay, show } from './commands';
import { processOut, type Out } from './output';
import { connect } from './store';

type Action = (redis: Redis, flags: ReturnType<typeof checkFlags>, ids: string[], out: Out) => Promise<number>;

/** Adds the flags every dlq command takes. */
function common(cmd: Command, filters: boolean): Command {
  cmd
    .option('-s, --stream <key>', 'the origin stream (its dead letters are in <key>:dlq); env STREAM')
    .option('--dead-letter-stream <key>', 'the dead-letter stream, when not <stream>:dlq')
    .option('--redis-url <url>', 'redis://[user:password@]host[:port][/db]; env REDIS_URL, default redis://127.0.0.1:6379')
    .addOption(new Option('--envelope <codec>', 'how the events are read (for --type and the event columns); env ENVELOPE').choices(['cloudevents', 'json-field', 'fields']))
    .option('--envelope-field <field>', 'the field json-field reads; env ENVELOPE_FIELD, default event')
    .option('--json', 'print JSON instead of text');
  if (filters) {
    cmd
      .option('-t, --type <type>', 'only dead letters of this event type')
      .option('-r, --reason <reason>', 'only dead letters of this reason (max_deliveries, malformed, schema, …)')
      .option('--since <when>', 'only dead letters written since: a duration (30m, 2h, 7d), an ISO 8601 time or a stream id')
      .option('-n, --limit <n>', 'at most n dead letters');
  }
  return cmd;
}

function bind(cmd: Command, defaultLimit: number | undefined, action: Action, out: Out, setCode: (c: number) => void): Command {
  return cmd.action(async (...args: unknown[]) => {
    // commander passes the positional arguments, then the options object, then the command.
    const opts = (args[args.length - 1] as Command).opts<RawFlags>();
    const ids = args.slice(0, -2).flat().filter((a): a is string => typeof a === 'string');
    const flags = checkFlags(opts, process.env, defaultLimit);
    const redis = await connect(flags.redisUrl);
    try {
      setCode(await action(redis, flags, ids, out));
    } finally {
      redis.disconnect();
    }
  });
}

/** Builds the program; `setCode` receives the exit code of a command that ran. */
export function program(out: Out, setCode: (c: number) => void): Command {
  const root = new Command('stream-workers').description('stream-workers tools').exitOverride().showHelpAfterError(false);
  root.configureOutput({ writeOut: (s) => out.stdout(s), writeErr: (s) => out.stderr(s) });
  const dlq = root.command('dlq').description('look at dead letters and act on them (docs/dead-letters.md)').exitOverride();
  const sub = (name: string): Command => dlq.command(name).exitOverride().configureOutput({ writeOut: (s) => out.stdout(s), writeErr: (s) => out.stderr(s) });
  bind(common(sub('ls').description('list dead letters, oldest first (default at most 100)'), true), 100, (r, f, _ids, o) => ls(r, f, o), out, setCode);
  bind(common(sub('show').argument('<id>', 'dead letter id').description('show one dead letter in full'), false), undefined, (r, f, ids, o) => show(r, f, ids[0]!, o), out, setCode);
  bind(
    common(sub('replay').argument('[ids...]', 'dead letter ids; none: every one the filters match').description('append dead letters to their origin stream again and delete them (atomically, each once)'), true)
      .option('--dry-run', 'list what would be replayed; change nothing')
      .option('--no-progress', 'no progress lines on stderr'),
    undefined,
    (r, f, ids, o) => replay(r, f, ids, o),
    out,
    setCode,
  );
  bind(
    common(sub('purge').argument('[ids...]', 'dead letter ids; none: every one the filters match').description('delete dead letters'), true)
      .option('--all', 'purge every dead letter of the stream (needed when no id or filter is given)')
      .option('--dry-run', 'list what would be purged; change nothing')
      .option('--no-progress', 'no progress lines on stderr'),
    undefined,
    (r, f, ids, o) => purge(r, f, ids, o),
    out,
    setCode,
  );
  return root;
}

/** Runs the CLI on `argv` (without `node` and the script); resolves with the exit code. */
export async function run(argv: readonly string[], out: Out = processOut): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await program(out, (c) => (code = c)).parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and exit 0; every other commander error is a usage error (it printed the message).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliError) {
      out.stderr(`stream-workers: ${err.message}\n`);
      return err.code;
    }
    out.stderr(`stream-workers: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
