/** What a target reports at each decision. */
export interface TargetState {
  /** Replicas requested now (the Deployment's `spec.replicas` through its `scale` subresource). */
  replicas: number;
  /** True when the target carries `stream-workers.io/paused: "true"`: the autoscaler leaves it alone. */
  paused: boolean;
}

/** The annotation that freezes a target's replica count. */
export const PAUSED_ANNOTATION = 'stream-workers.io/paused';

/** Something whose replica count the autoscaler sets: a Deployment, or local worker processes. */
export interface ScaleTarget {
  /** Human name for logs, e.g. `deployment/ns/workers`. */
  readonly description: string;
  /** Reads the current state. Throws on failure (a Deployment target throws `KubeApiError`). */
  read(): Promise<TargetState>;
  /** Sets the replica count. */
  scale(replicas: number): Promise<void>;
  /** Releases what the target holds (a local target stops its processes). Idempotent. */
  close(): Promise<void>;
}
