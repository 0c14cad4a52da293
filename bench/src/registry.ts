import type { Benchmark } from './harness';
import { workerCeiling, workerLatency, workerThroughput } from './worker';
import { producerLibrary } from './producer';
import { exporterScrape } from './exporter';
import { protocolReaders } from './protocol';
import { workerLarge } from './worker-large';
import { scalingModes } from './scaling';
import { nestjsHandler } from './nestjs';
import { clusterShards } from './cluster';

/** Every benchmark `make bench` runs, in order. Each service's benchmarks register here. */
export const BENCHMARKS: Benchmark[] = [workerThroughput, workerCeiling, workerLatency, producerLibrary, exporterScrape, scalingModes, nestjsHandler, protocolReaders, workerLarge, clusterShards];
