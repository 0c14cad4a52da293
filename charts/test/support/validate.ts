/**
 * Schema validation of rendered objects:
 *  - kubernetes-models (and @kubernetes-models/keda, @kubernetes-models/prometheus-operator): the
 *    OpenAPI/CRD schemas (types, required fields, enums, formats);
 *  - unknown fields: those schemas accept extra keys (as the API server does when it prunes them),
 *    so a misspelt field in a template would pass. For built-in kinds, every key is also checked
 *    against @kubernetes/client-node's generated type maps (the same OpenAPI definitions), and the
 *    CRD kinds against the lists of keys below.
 *  - Kubernetes versions (versionProblems): API versions and fields of built-in kinds that a server of
 *    a given version lacks (or no longer serves), from the tables below.
 */
import * as k8s from '@kubernetes/client-node';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PodDisruptionBudget as PodDisruptionBudgetV1beta1 } from 'kubernetes-models/policy/v1beta1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { K8sObject } from './helm';

interface Validatable {
  validate(): void;
}
type ModelCtor = new (data: never) => Validatable;

const MODELS: Record<string, ModelCtor> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'policy/v1beta1/PodDisruptionBudget': PodDisruptionBudgetV1beta1,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'coordination.k8s.io/v1/Lease': Lease,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Validates one object against its model's schema; returns the problems (empty when valid). */
export function schemaProblems(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS[key];
  if (!Model) return [`${key} ${obj.metadata?.name}: no schema model registered for this kind`];
  try {
    new Model(obj as never).validate();
  } catch (err) {
    return [`${key} ${obj.metadata.name}: ${(err as Error).message}`];
  }
  const strict = isBuiltin(obj) ? unknownBuiltinFields(obj) : unknownCrdFields(obj);
  return strict.map((p) => `${key} ${obj.metadata.name}: unknown field ${p}`);
}

function isBuiltin(obj: K8sObject): boolean {
  return !obj.apiVersion.includes('keda.sh') && !obj.apiVersion.includes('monitoring.coreos.com');
}

interface AttributeType {
  name: string;
  baseName: string;
  type: string;
}
interface WithTypeMap {
  getAttributeTypeMap(): AttributeType[];
}

// The generated classes are exported by name (V1Deployment, V1PodSpec, ...).
const models = k8s as unknown as Record<string, WithTypeMap | undefined>;

/**
 * Fields of the current (v1) types that an older API version of the same kind does not have: the
 * generated type maps are those of the newest version only.
 */
const ABSENT_IN_API_VERSION: Record<string, string[]> = {
  'policy/v1beta1/PodDisruptionBudget': ['V1PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy'],
};

/** Paths of keys that the built-in kind's OpenAPI type does not define. */
export function unknownBuiltinFields(obj: K8sObject): string[] {
  const out: string[] = [];
  const absent = ABSENT_IN_API_VERSION[`${obj.apiVersion}/${obj.kind}`] ?? [];
  walkType(obj, `V1${obj.kind}`, '', (type, key, path, known) => {
    if (!known || absent.includes(`${type}.${key}`)) out.push(path);
  });
  return out;
}

/**
 * Walks a value along a generated type, calling `visit` for every key of every object in it with
 * the object's type, the key, its path and whether the type defines the key.
 */
function walkType(value: unknown, type: string, path: string, visit: (type: string, key: string, path: string, known: boolean) => void): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => walkType(v, arr[1]!, `${path}[${i}]`, visit));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walkType(v, map[1]!, `${path}.${k}`, visit);
    return;
  }
  const cls = models[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function') return; // primitives, IntOrString, quantities
  if (typeof value !== 'object' || Array.isArray(value)) return; // the schema validation reports type errors
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const t = attrs.get(k);
    const at = `${path}.${k}`.replace(/^\./, '');
    visit(type, k, at, t !== undefined);
    if (t !== undefined) walkType(v, t, `${path}.${k}`, visit);
  }
}

/**
 * Kubernetes minor versions (1.x) serving each built-in API version and kind the chart renders:
 * [first, last] (last undefined: still served). A kind missing here is reported, so a template
 * that starts rendering a new one must say which servers have it.
 */
const API_VERSION_SERVED: Record<string, [number, number | undefined]> = {
  'v1/ConfigMap': [0, undefined],
  'v1/Secret': [0, undefined],
  'v1/Service': [0, undefined],
  'v1/ServiceAccount': [0, undefined],
  'v1/Namespace': [0, undefined],
  'apps/v1/Deployment': [9, undefined],
  'apps/v1/StatefulSet': [9, undefined],
  'networking.k8s.io/v1/NetworkPolicy': [7, undefined],
  'networking.k8s.io/v1/Ingress': [19, undefined],
  'rbac.authorization.k8s.io/v1/Role': [8, undefined],
  'rbac.authorization.k8s.io/v1/RoleBinding': [8, undefined],
  'coordination.k8s.io/v1/Lease': [14, undefined],
  'policy/v1beta1/PodDisruptionBudget': [5, 24],
  'policy/v1/PodDisruptionBudget': [21, undefined],
};

/**
 * Fields added after Kubernetes 1.20 (the oldest version the chart supports), by the minor version
 * whose API first has them (alpha included: from then on a server knows the field, even if it drops
 * it while the feature gate is off). Before that version a server rejects them as unknown under
 * server-side apply. Keyed by generated type and field; not every field ever added, but those a pod,
 * Service, StatefulSet, PodDisruptionBudget or NetworkPolicy of this chart could plausibly grow.
 */
const FIELD_SINCE: Record<string, number> = {
  'V1TopologySpreadConstraint.minDomains': 24,
  'V1TopologySpreadConstraint.matchLabelKeys': 25,
  'V1TopologySpreadConstraint.nodeAffinityPolicy': 25,
  'V1TopologySpreadConstraint.nodeTaintsPolicy': 25,
  'V1PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy': 26,
  'V1StatefulSetSpec.minReadySeconds': 22,
  'V1StatefulSetSpec.persistentVolumeClaimRetentionPolicy': 23,
  'V1StatefulSetSpec.ordinals': 26,
  'V1PodSpec.os': 23,
  'V1PodSpec.hostUsers': 25,
  'V1PodSpec.schedulingGates': 26,
  'V1PodSpec.resourceClaims': 26,
  'V1Container.resizePolicy': 27,
  'V1Container.restartPolicy': 28,
  'V1SecurityContext.appArmorProfile': 30,
  'V1PodSecurityContext.appArmorProfile': 30,
  'V1PodSecurityContext.supplementalGroupsPolicy': 31,
  'V1PodSecurityContext.seLinuxChangePolicy': 32,
  'V1ServiceSpec.internalTrafficPolicy': 21,
  'V1ServiceSpec.loadBalancerClass': 21,
  'V1ServiceSpec.trafficDistribution': 30,
  'V1NetworkPolicyPort.endPort': 21,
};

/**
 * What a Kubernetes 1.<minor> server would refuse in a built-in object: an API version it does not
 * serve, or a field its version of the kind lacks (from the tables above). CRD kinds are skipped:
 * they depend on the CRDs installed, not on the server's version.
 */
export function versionProblems(obj: K8sObject, minor: number): string[] {
  if (!isBuiltin(obj)) return [];
  const key = `${obj.apiVersion}/${obj.kind}`;
  const at = `${key} ${obj.metadata.name}`;
  const served = API_VERSION_SERVED[key];
  if (!served) return [`${at}: no entry in API_VERSION_SERVED`];
  const [first, last] = served;
  if (minor < first || (last !== undefined && minor > last)) return [`${at}: not served by Kubernetes 1.${minor} (1.${first}${last === undefined ? '+' : `-1.${last}`})`];
  const out: string[] = [];
  walkType(obj, `V1${obj.kind}`, '', (type, field, path) => {
    const since = FIELD_SINCE[`${type}.${field}`];
    if (since !== undefined && minor < since) out.push(`${at}: ${path} needs Kubernetes 1.${since}+`);
  });
  return out;
}

/** Allowed keys per path of the CRD objects this chart renders (a subset of each CRD's schema). */
const CRD_KEYS: Record<string, Record<string, string[]>> = {
  ScaledObject: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['scaleTargetRef', 'pollingInterval', 'cooldownPeriod', 'initialCooldownPeriod', 'idleReplicaCount', 'minReplicaCount', 'maxReplicaCount', 'fallback', 'advanced', 'triggers'],
    'spec.scaleTargetRef': ['apiVersion', 'kind', 'name', 'envSourceContainerName'],
    'spec.advanced': ['restoreToOriginalReplicaCount', 'horizontalPodAutoscalerConfig', 'scalingModifiers'],
    'spec.advanced.horizontalPodAutoscalerConfig': ['name', 'behavior'],
    'spec.advanced.horizontalPodAutoscalerConfig.behavior': ['scaleUp', 'scaleDown'],
    'spec.fallback': ['failureThreshold', 'replicas', 'behavior'],
    'spec.triggers[]': ['type', 'name', 'metadata', 'authenticationRef', 'metricType', 'useCachedMetrics'],
    'spec.triggers[].authenticationRef': ['name', 'kind'],
  },
  TriggerAuthentication: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['secretTargetRef', 'env', 'podIdentity'],
    'spec.secretTargetRef[]': ['parameter', 'name', 'key'],
  },
  ServiceMonitor: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['jobLabel', 'namespaceSelector', 'selector', 'endpoints', 'targetLabels', 'podTargetLabels'],
    'spec.namespaceSelector': ['matchNames', 'any'],
    'spec.selector': ['matchLabels', 'matchExpressions'],
    'spec.endpoints[]': ['port', 'path', 'interval', 'scrapeTimeout', 'honorLabels', 'scheme', 'relabelings', 'metricRelabelings'],
  },
  PrometheusRule: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['groups'],
    'spec.groups[]': ['name', 'interval', 'rules', 'partial_response_strategy', 'limit'],
    'spec.groups[].rules[]': ['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'],
  },
};

export function unknownCrdFields(obj: K8sObject): string[] {
  const spec = CRD_KEYS[obj.kind];
  if (!spec) return [`(no key list for ${obj.kind})`];
  const out: string[] = [];
  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v, `${path}[]`);
      return;
    }
    const allowed = spec[path];
    if (!allowed || typeof value !== 'object' || value === null) return;
    for (const [k, v] of Object.entries(value)) {
      if (!allowed.includes(k)) out.push(path ? `${path}.${k}` : k);
      else visit(v, path ? `${path}.${k}` : k);
    }
  };
  visit(obj, '');
  return out;
}
