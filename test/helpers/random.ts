/**
 * A small seedable PRNG for per-request choices (weighted backends, mirror and fault percentages).
 * Production seeds it from the OS; tests pass a fixed seed and get the same sequence every run.
 *
 * The generator is mulberry32 (32-bit state, period 2^32): fast, allocation-free, and plenty for
 * traffic splitting. It is not a cryptographic generator and must never be used as one.
 */
import { randomBytes } from 'node:crypto';

/** Returns a function yielding floats in [0, 1). Same seed → same sequence. */
export function createRandom(seed?: number): () => number {
  let state = (seed ?? randomBytes(4).readUInt32LE(0)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
