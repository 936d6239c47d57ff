/**
 * Philox4x32-10: a counter-based RNG (Salmon et al. 2011). The stream is a pure function of
 * (key, counter), so the same seed gives the same numbers on every backend and platform, and
 * the state is two integers that a checkpoint can store.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (JS numbers lose precision past 2^53). */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const lo = aLo * bLo;
  const mid1 = aHi * bLo;
  const mid2 = aLo * bHi;
  const carry = ((lo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** One Philox4x32-10 block: four u32 from a 128-bit counter and a 64-bit key. */
export function philox4x32(ctr: Uint32Array, k0: number, k1: number, out: Uint32Array): void {
  let c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** Serializable RNG state: enough to continue the stream exactly where it stopped. */
export interface RngState {
  seed: number;
  stream: number;
  /** 4-word blocks generated so far. */
  counter: number;
  /** Words of the current block already used (4 = block exhausted). */
  pos: number;
  spareNormal: number | null;
}

/** A seeded stream of random numbers. `fork(name)` derives an independent stream. */
export class Rng {
  readonly seed: number;
  readonly stream: number;
  private counter = 0;
  private readonly ctr = new Uint32Array(4);
  private readonly buf = new Uint32Array(4);
  private pos = 4;
  private spareNormal: number | null = null;

  constructor(seed: number, stream = 0) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    this.seed = seed >>> 0;
    this.stream = stream >>> 0;
  }

  /** A new independent stream keyed by this seed and a name (e.g. "init", "data"). */
  fork(name: string): Rng {
    let h = 2166136261 ^ this.stream;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
    return new Rng(this.seed, (h >>> 0) ^ 0x5bd1e995);
  }

  state(): RngState {
    return {
      seed: this.seed,
      stream: this.stream,
      counter: this.counter,
      pos: this.pos,
      spareNormal: this.spareNormal,
    };
  }

  static fromState(s: RngState): Rng {
    const r = new Rng(s.seed, s.stream);
    if (s.pos < 4) {
      r.counter = s.counter - 1; // regenerate the partly used block
      r.pos = 4;
      r.nextU32();
      r.pos = s.pos;
    } else {
      r.counter = s.counter;
    }
    r.spareNormal = s.spareNormal;
    return r;
  }

  /** A uniformly random u32. */
  nextU32(): number {
    if (this.pos === 4) {
      this.ctr[0] = this.counter >>> 0;
      this.ctr[1] = Math.floor(this.counter / 0x100000000) >>> 0;
      this.ctr[2] = this.stream;
      this.ctr[3] = 0;
      philox4x32(this.ctr, this.seed, 0x85ebca6b, this.buf);
      this.counter++;
      this.pos = 0;
      this.spareNormal = null;
    }
    return this.buf[this.pos++];
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in (0, 1]: safe for log(). */
  uniformOpen(): number {
    return (this.nextU32() + 1) / 4294967296;
  }

  /** Standard normal by Box-Muller. */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    const u1 = this.uniformOpen(), u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher-Yates shuffle of 0..n-1, returning the first k. */
  choose(n: number, k: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a.slice(0, k);
  }

  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }
}
