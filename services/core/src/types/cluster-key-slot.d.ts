// cluster-key-slot (the CRC16 slot function ioredis itself uses) ships no type declarations.
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0..16383) of a key, hash tags respected. */
  function generate(key: string | Buffer): number;
  export = generate;
}
