/**
 * The backlog of consumer groups, read at the moment it is asked for (no cache): how many entries
 * wait for a group (lag + pending = outstanding) and how old the oldest waiting ones are.
 *
 * Shared by the lag exporter (every stream and group of a scrape, {@link readAllBacklogsOver} on its
 * own connection, or {@link readAllBacklogs} on an ioredis one) and the autoscaler (one group,
 * {@link readGroupBacklog}). The cost of a read grows with the number of groups, never with the length
 * of a stream (except the bounded count below). The reads:
 *
 *   per stream: `XINFO STREAM` (length, first and last entry ids) and `XINFO GROUPS`
 *            (last-delivered-id, entries-read, lag, pending, consumers: the consumer count comes from
 *            here, never from `XINFO CONSUMERS`, so thousands of consumers cost nothing extra);
 *   per group, only what that does not answer: `XRANGE <after last-delivered-id> + COUNT 1`
 *            (the first undelivered entry: its id gives `lagSeconds`; only for a group inside the
 *            stream) and `XPENDING g - + 1` (the smallest pending id: `oldestPendingSeconds`; only
 *            when something is pending; never the XPENDING summary, whose size grows with consumers).
 *
 * Many streams at once ({@link readAllBacklogsOver}, the exporter's scrape): plain commands in two
 * pipelined rounds per {@link COMMANDS_BATCH} streams, the first (`XINFO STREAM`, `XINFO GROUPS`) in
 * `MULTI`/`EXEC`, every first round sent at once and each second round as soon as its first is in, over
 * any {@link BacklogTransport} (the exporter's own RESP connection decodes the replies for a fraction of
 * what ioredis costs). `readAllBacklogs` on an ioredis connection runs read-only Lua scripts instead
 * (one round trip, {@link SCRIPT_BATCH} streams per call, atomic, only ids and numbers travel: fewer
 * values to decode, more Redis time), and the same plain commands where scripts are refused (ACL
 * without EVALSHA, Redis < 6.2 without exclusive ranges) or with `mode: 'commands'`.
 * `readGroupBacklog` reads one group with plain commands (its first round includes the XPENDING).
 *
 * The parts: lag-model.ts (the pure model: types, positions, the estimator), lag-replies.ts (reply
 * decoding), lag-commands.ts and lag-script.ts (the readers), lag-discovery.ts (which streams).
 */
export * from './lag-model';
export { parseGroupsInfo, parseStreamInfo } from './lag-replies';
export * from './lag-commands';
export * from './lag-script';
export * from './lag-discovery';
export * from './sharded-backlog';
