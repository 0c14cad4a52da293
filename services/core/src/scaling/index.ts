export * from './replica-math';
export * from './scale-decider';
