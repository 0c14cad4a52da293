import { KubeConfig } from '@kubernetes/client-node';

/**
 * The Kubernetes client configuration: the kubeconfig file at `path` when given (KUBECONFIG), else
 * the in-cluster service account, else ~/.kube/config (client-node's default order).
 * A plain `http://` server works only with `skipTLSVerify: true` on the cluster entry (client-node refuses otherwise).
 */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(path ? `kubeconfig ${path} has no current cluster` : 'no Kubernetes configuration: not in a cluster and no KUBECONFIG');
  return kc;
}
