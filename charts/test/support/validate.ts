/**
 * Schema validation of rendered objects:
 *  - kubernetes-models (and @kubernetes-models/keda, @kubernetes-models/prometheus-operator): the
 *    OpenAPI/CRD schemas (types, required fields, enums, formats);
 *  - unknown fields: those schemas accept extra keys (as the API server does when it prunes them),
 *    so a misspelt field in a template would pass. For built-in kinds, every key is also checked
 *    against @kubernetes/client-node's generated type maps (the same OpenAPI definitions), and the
 *    CRD kinds against the lists of keys below.
 */
import * as k8s from '@kubernetes/client-node';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
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
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
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

/** Paths of keys that the built-in kind's OpenAPI type does not define. */
export function unknownBuiltinFields(obj: K8sObject): string[] {
  const out: string[] = [];
  walkType(obj, `V1${obj.kind}`, '', out);
  return out;
}

function walkType(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => walkType(v, arr[1]!, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walkType(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  const cls = models[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function') return; // primitives, IntOrString, quantities
  if (typeof value !== 'object' || Array.isArray(value)) return; // the schema validation reports type errors
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const t = attrs.get(k);
    if (t === undefined) out.push(`${path}.${k}`.replace(/^\./, ''));
    else walkType(v, t, `${path}.${k}`, out);
  }
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
