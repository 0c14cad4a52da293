/** A local Redis Cluster for the tests (core's LocalRedisCluster, shared with the benchmarks). */
export { LocalRedisCluster, type ClusterNodeInfo, type LocalRedisClusterOptions } from '../services/core/src/local-redis-cluster';
