export * from './config';
export * from './collector';
export * from './app';
