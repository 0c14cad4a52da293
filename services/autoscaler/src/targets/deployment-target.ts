import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { kubeCall, type KubeAccess } from '../kube-api-error';
import { PAUSED_ANNOTATION, type ScaleTarget, type TargetState } from '../scale-target';

/** Options for {@link DeploymentTarget}. */
export interface DeploymentTargetOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Name of the Deployment. */
  name: string;
  /** `fieldManager` of the scale patches; default `stream-workers-autoscaler`. */
  fieldManager?: string;
  /** Deadline of one API call in ms; default 10000. */
  requestTimeoutMs?: number;
}

/**
 * A Deployment scaled through its `scale` subresource, as the HPA and KEDA do. RBAC it needs: `get`
 * on `deployments`, `get` and `patch` on `deployments/scale` (apiGroup `apps`), and `list` on `pods`
 * for the janitor. Every failure is thrown as a {@link KubeApiError} naming the missing permission or object.
 */
export class DeploymentTarget implements ScaleTarget {
  readonly description: string;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly timeoutMs: number;

  constructor(private readonly opts: DeploymentTargetOptions) {
    this.description = `deployment/${opts.name} in namespace ${opts.namespace}`;
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  async read(): Promise<TargetState> {
    const { name, namespace } = this.opts;
    const deployment = await this.call({ verb: 'get', resource: 'deployments', apiGroup: 'apps', namespace, name }, () =>
      this.apps.readNamespacedDeployment({ name, namespace }),
    );
    const scale = await this.call({ verb: 'get', resource: 'deployments/scale', apiGroup: 'apps', namespace, name }, () =>
      this.apps.readNamespacedDeploymentScale({ name, namespace }),
    );
    const annotations = deployment.metadata?.annotations ?? {};
    return { replicas: scale.spec?.replicas ?? deployment.spec?.replicas ?? 0, paused: annotations[PAUSED_ANNOTATION] === 'true' };
  }

  async scale(replicas: number): Promise<void> {
    const { name, namespace } = this.opts;
    await this.call({ verb: 'patch', resource: 'deployments/scale', apiGroup: 'apps', namespace, name }, () =>
      this.apps.patchNamespacedDeploymentScale(
        { name, namespace, body: { spec: { replicas } }, fieldManager: this.opts.fieldManager ?? 'stream-workers-autoscaler' },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  /**
   * The label selector of the Deployment's pods (`spec.selector.matchLabels` as `k=v,...`), or undefined
   * when it uses matchExpressions only (then set POD_SELECTOR).
   */
  async podSelector(): Promise<string | undefined> {
    const { name, namespace } = this.opts;
    const d = await this.call({ verb: 'get', resource: 'deployments', apiGroup: 'apps', namespace, name }, () =>
      this.apps.readNamespacedDeployment({ name, namespace }),
    );
    const sel = d.spec?.selector;
    if (!sel?.matchLabels || Object.keys(sel.matchLabels).length === 0 || (sel.matchExpressions?.length ?? 0) > 0) return undefined;
    return Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
  }

  /** Names of the pods matching `selector` that still exist (terminating pods included: they may still hold entries). */
  async podNames(selector: string): Promise<Set<string>> {
    const { namespace } = this.opts;
    const names = new Set<string>();
    let cont: string | undefined;
    let pages = 0;
    do {
      const list = await this.call({ verb: 'list', resource: 'pods', apiGroup: '', namespace }, () =>
        this.core.listNamespacedPod({ namespace, labelSelector: selector, limit: 500, ...(cont ? { _continue: cont } : {}) }),
      );
      for (const p of list.items) if (p.metadata?.name) names.add(p.metadata.name);
      cont = list.metadata?._continue || undefined;
      pages += 1;
    } while (cont && pages < 100);
    return names;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private call<T>(access: KubeAccess, fn: () => Promise<T>): Promise<T> {
    return kubeCall(access, this.timeoutMs, fn);
  }
}
