import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Handler } from './handler';

/**
 * Loads a user handler module (`HANDLER=path`): CommonJS or ESM, exporting `handle(event, ctx)`, a
 * default function, or a default object with `handle`. Relative paths resolve from `cwd`.
 */
export async function loadHandler(path: string, cwd: string): Promise<Handler> {
  return (await loadHandlerModule(path, cwd)).handle;
}

/** {@link loadHandler}, plus the module's `contracts` export (or its default object's), undefined when it has none. */
export async function loadHandlerModule(path: string, cwd: string): Promise<{ handle: Handler; contracts: unknown }> {
  const abs = isAbsolute(path) ? path : resolve(cwd, path);
  let mod: Record<string, unknown>;
  try {
    // import() loads both module kinds; a CommonJS module appears as { default: module.exports, ...named }.
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`HANDLER=${JSON.stringify(path)} could not be loaded: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const candidates = [mod.handle, (mod.default as Record<string, unknown> | undefined)?.handle, mod.default];
  const fn = candidates.find((c) => typeof c === 'function');
  if (!fn) throw new Error(`HANDLER=${JSON.stringify(path)} exports no handle(event, ctx) function`);
  const contracts = mod.contracts ?? (mod.default as Record<string, unknown> | undefined)?.contracts;
  return { handle: fn as Handler, contracts };
}
