/** promtool and prometheus from Debian's `prometheus` package (scripts/install-tools.sh installs it). */
import { spawnSync } from 'node:child_process';

export function which(bin: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`${bin} not found on PATH: run \`bash scripts/install-tools.sh\` (installs Debian's prometheus package)`);
  return path;
}

export function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(which('promtool'), args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
