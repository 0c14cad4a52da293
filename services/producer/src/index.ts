export * from './config';
export * from './app';
export * from './load/run-load';
