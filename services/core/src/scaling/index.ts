export * from './replica-math';
export * from './scale-decider';
export * from './rate-math';
