/** What an API call needed, so that an error can name the missing RBAC rule. */
export interface KubeAccess {
  /** RBAC verb: get, list, patch, create, update. */
  verb: string;
  /** RBAC resource, with the subresource: `deployments/scale`, `pods`, `leases`. */
  resource: string;
  /** API group: `apps`, `coordination.k8s.io`, `` (core). */
  apiGroup: string;
  namespace: string;
  /** Object name, when the call is about one object. */
  name?: string;
}

export type KubeErrorKind = 'forbidden' | 'not-found' | 'conflict' | 'unauthorized' | 'unreachable' | 'server';

/**
 * A failed Kubernetes API call, classified, with a message that says what to do: a 403 names the
 * missing RBAC verb and resource, a 404 the object.
 */
export class KubeApiError extends Error {
  constructor(
    readonly kind: KubeErrorKind,
    readonly access: KubeAccess,
    readonly status: number | undefined,
    readonly detail: string,
  ) {
    super(KubeApiError.describe(kind, access, status, detail));
    this.name = 'KubeApiError';
  }

  /** The RBAC rule that would allow the call, e.g. `patch deployments/scale (apiGroup "apps") in namespace "ns"`. */
  get rbacRule(): string {
    const a = this.access;
    return `${a.verb} ${a.resource} (apiGroup "${a.apiGroup}") in namespace "${a.namespace}"`;
  }

  private static describe(kind: KubeErrorKind, a: KubeAccess, status: number | undefined, detail: string): string {
    const what = `${a.resource}${a.name ? ` "${a.name}"` : ''} in namespace "${a.namespace}"`;
    switch (kind) {
      case 'forbidden':
        return `forbidden (403): the service account may not ${a.verb} ${a.resource} (apiGroup "${a.apiGroup}") in namespace "${a.namespace}"; grant the RBAC verb "${a.verb}" on resource "${a.resource}"${detail ? ` — API server said: ${detail}` : ''}`;
      case 'not-found':
        return `not found (404): ${what} does not exist${detail ? ` — ${detail}` : ''}`;
      case 'unauthorized':
        return `unauthorized (401) on ${a.verb} ${what}: the credentials were rejected${detail ? ` — ${detail}` : ''}`;
      case 'conflict':
        return `conflict (409) on ${a.verb} ${what}${detail ? `: ${detail}` : ''}`;
      case 'unreachable':
        return `Kubernetes API unreachable on ${a.verb} ${what}: ${detail}`;
      case 'server':
        return `Kubernetes API error${status ? ` ${status}` : ''} on ${a.verb} ${what}${detail ? `: ${detail}` : ''}`;
    }
  }

  /** Wraps whatever @kubernetes/client-node threw (ApiException with `code` and `body`, or a fetch error). */
  static from(err: unknown, access: KubeAccess): KubeApiError {
    if (err instanceof KubeApiError) return err;
    const e = err as { code?: unknown; body?: unknown; message?: unknown };
    if (typeof e?.code === 'number') {
      const status = e.code;
      const detail = statusMessage(e.body);
      const kind: KubeErrorKind =
        status === 403 ? 'forbidden' : status === 404 ? 'not-found' : status === 409 ? 'conflict' : status === 401 ? 'unauthorized' : 'server';
      return new KubeApiError(kind, access, status, detail);
    }
    const message = err instanceof Error ? err.message : String(err);
    return new KubeApiError('unreachable', access, undefined, message);
  }
}

/** The `message` of a Kubernetes Status body (a string or an object), else a short excerpt. */
function statusMessage(body: unknown): string {
  let b: unknown = body;
  if (typeof body === 'string') {
    try {
      b = JSON.parse(body) as unknown;
    } catch {
      return body.slice(0, 300);
    }
  }
  if (b && typeof b === 'object' && typeof (b as { message?: unknown }).message === 'string') return (b as { message: string }).message;
  return '';
}

/** Runs one API call with a deadline; any failure comes out as a {@link KubeApiError} for `access`. */
export async function kubeCall<T>(access: KubeAccess, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([fn(), timeout]);
  } catch (err) {
    throw KubeApiError.from(err, access);
  } finally {
    clearTimeout(timer);
  }
}
