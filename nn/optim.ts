/**
 * Adam / AdamW with PyTorch's semantics on the backend's multi-tensor `adam` kernel, global-norm
 * gradient clipping computed on the device, and learning-rate schedules. Nothing here reads
 * device memory back: the clipping factor is a 1-element device tensor that the Adam kernel
 * multiplies into the gradient. The parameters an optimizer updates, and its m and v, are packed
 * into one allocation each (`Backend.allocParts`), so a WebGPU step is a handful of dispatches,
 * not one per parameter tensor (the quick-preset Transformer: 8 for Adam and 6 for clipping,
 * from 31 and 136).
 */
import { noGrad } from "../core/autograd.ts";
import type { AdamItem, Backend } from "../core/backend.ts";
import { add, mul } from "../core/ops/elementwise.ts";
import { Tensor, tidy } from "../core/tensor.ts";

export interface AdamOptions {
  /** Default 1e-3 (PyTorch). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /**
   * Adam: L2 penalty added to the gradient (PyTorch Adam's weight_decay, default 0).
   * AdamW: decoupled decay p ← p − lr·wd·p (default 0.01).
   */
  weightDecay?: number;
}

/** The optimizer's per-parameter state. */
export interface AdamParamState {
  m: Tensor;
  v: Tensor;
  /** Updates applied to this parameter (PyTorch keeps the step per parameter). */
  step: number;
}

/** Hyper-parameters and step counts as JSON (checkpoint metadata). */
export interface AdamStateJSON {
  kind: "adam" | "adamw";
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  steps: Record<string, number>;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly params: readonly [string, Tensor][];
  readonly #state = new Map<Tensor, AdamParamState>();
  readonly #backend: Backend | null;
  readonly #gradHomes: Tensor[] = [];

  /** `params`: a model's `namedParameters()` (names key the checkpointed state) or tensors. */
  constructor(params: Iterable<[string, Tensor]> | Iterable<Tensor>, opts: AdamOptions = {}) {
    const list = [...params] as ([string, Tensor] | Tensor)[];
    this.params = list.map((e, i) =>
      Array.isArray(e) ? e : [e.name || `param${i}`, e] as [string, Tensor]
    );
    const names = new Set<string>();
    for (const [n] of this.params) {
      if (names.has(n)) throw new Error(`${this.kind}: parameter name "${n}" appears twice`);
      names.add(n);
    }
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? this.defaultWeightDecay();
    for (
      const [k, v] of Object.entries({ lr: this.lr, eps: this.eps, weightDecay: this.weightDecay })
    ) {
      if (!(v >= 0) || !Number.isFinite(v)) {
        throw new Error(`${this.kind}: ${k} must be ≥ 0, got ${v}`);
      }
    }
    for (const [k, v] of Object.entries({ beta1: this.beta1, beta2: this.beta2 })) {
      if (!(v >= 0 && v < 1)) throw new Error(`${this.kind}: ${k} must be in [0, 1), got ${v}`);
    }
    const backends = new Set(this.params.map(([, p]) => p.backend));
    if (backends.size > 1) throw new Error(`${this.kind}: parameters on several backends`);
    this.#backend = [...backends][0] ?? null;
    packInto(this.params.map(([, p]) => p).filter((p) => !p.sharesStorage));
    // Gradients land in one allocation laid out as m and v (and p, when every parameter is
    // packed): clipping and Adam then cover every parameter in a dispatch or two.
    const be = this.#backend;
    if (be && this.params.length > 1) {
      const homes = be.allocParts(this.params.map(([, p]) => p.size));
      this.params.forEach(([, p], k) => {
        p.gradHome = new Tensor(be, homes[k], p.shape).keep();
        this.#gradHomes.push(p.gradHome);
      });
    }
  }

  protected defaultWeightDecay(): number {
    return 0;
  }

  /** True for AdamW (decoupled weight decay). */
  get decoupled(): boolean {
    return false;
  }

  get kind(): "adam" | "adamw" {
    return this.decoupled ? "adamw" : "adam";
  }

  /**
   * One update of every parameter that has a gradient (others are skipped, as in PyTorch).
   * `gradScale`, a 1-element tensor (e.g. from `clipGradNorm`), multiplies every gradient.
   */
  step(gradScale: Tensor | null = null): void {
    if (gradScale && gradScale.size !== 1) {
      throw new Error(
        `${this.kind}.step: gradScale must have 1 element, got ${gradScale.describe()}`,
      );
    }
    const live = this.params.filter(([, p]) => p.grad);
    if (!live.length) return;
    this.#ensureState();
    const l2 = !this.decoupled && this.weightDecay > 0;
    noGrad(() =>
      tidy(() => {
        const items: AdamItem[] = live.map(([name, p]) => {
          const st = this.#state.get(p)!;
          st.step++;
          // PyTorch Adam's weight decay is an L2 term added to the (scaled) gradient.
          const g = l2
            ? add(gradScale ? mul(p.grad!, gradScale) : p.grad!, mul(p, this.weightDecay))
            : p.grad!;
          return {
            p: p.buf(name),
            g: g.buf(name),
            m: st.m.buf(name),
            v: st.v.buf(name),
            n: p.size,
            step: st.step,
          };
        });
        const { lr, beta1, beta2, eps } = this;
        const hyper = { lr, beta1, beta2, eps, weightDecay: this.decoupled ? this.weightDecay : 0 };
        this.#backend!.adam(items, hyper, l2 ? null : gradScale?.buf("adam") ?? null);
      })
    );
  }

  /** m and v of every parameter, zero, in one allocation each (created at the first need). */
  #ensureState(): void {
    if (this.#state.size || !this.#backend) return;
    const be = this.#backend;
    const sizes = this.params.map(([, p]) => p.size);
    const ms = be.allocParts(sizes), vs = be.allocParts(sizes);
    this.params.forEach(([, p], k) => {
      const m = new Tensor(be, ms[k], p.shape).keep(), v = new Tensor(be, vs[k], p.shape).keep();
      this.#state.set(p, { m, v, step: 0 });
    });
  }

  /** Free every parameter's gradient. */
  zeroGrad(): void {
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The state of a parameter (undefined before its first update). */
  stateOf(p: Tensor): AdamParamState | undefined {
    const st = this.#state.get(p);
    return st && st.step > 0 ? st : undefined;
  }

  /** The largest per-parameter step count (the number of `step()` calls in normal use). */
  get stepCount(): number {
    let s = 0;
    for (const st of this.#state.values()) s = Math.max(s, st.step);
    return s;
  }

  /** m and v under `optim.m.<name>` / `optim.v.<name>` for every parameter with state. */
  namedState(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) {
      const st = this.stateOf(p);
      if (st) out.push([`optim.m.${n}`, st.m], [`optim.v.${n}`, st.v]);
    }
    return out;
  }

  toJSON(): AdamStateJSON {
    const steps: Record<string, number> = {};
    for (const [n, p] of this.params) {
      const st = this.stateOf(p);
      if (st) steps[n] = st.step;
    }
    return {
      kind: this.kind,
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      steps,
    };
  }

  /**
   * Install state for the named parameter (checkpoint loading): m's and v's values are copied
   * into the optimizer's own (packed) state, and the given tensors disposed.
   */
  setState(name: string, m: Tensor, v: Tensor, step: number): void {
    const entry = this.params.find(([n]) => n === name);
    if (!entry) throw new Error(`${this.kind}: no parameter named "${name}"`);
    const p = entry[1];
    for (const [what, t] of [["m", m], ["v", v]] as const) {
      if (t.rank !== p.rank || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(
          `${this.kind}: ${what} for ${name} is ${t.describe()}, expected ${p.describe()}`,
        );
      }
    }
    this.#ensureState();
    const st = this.#state.get(p)!;
    const contiguous = { offset: 0, strides: [1] };
    for (const [from, to] of [[m, st.m], [v, st.v]] as const) {
      p.backend.copy(from.buf(name), contiguous, to.buf(name), contiguous, [p.size]);
      from.dispose();
    }
    st.step = step;
  }

  /** Free the optimizer state (m and v) and the gradients' packed storage. */
  dispose(): void {
    for (const st of this.#state.values()) {
      st.m.dispose();
      st.v.dispose();
    }
    this.#state.clear();
    for (const [, p] of this.params) if (this.#gradHomes.includes(p.gradHome!)) p.gradHome = null;
    for (const h of this.#gradHomes) h.dispose();
    this.#gradHomes.length = 0;
  }
}

/** AdamW: Adam with decoupled weight decay (PyTorch default 0.01). */
export class AdamW extends Adam {
  override get decoupled(): boolean {
    return true;
  }
  protected override defaultWeightDecay(): number {
    return 0.01;
  }
}

/** [√(Σ‖g‖²), PyTorch's clip factor min(1, maxNorm / (norm + 1e-6))] as 1-element tensors. */
function gradNorm(params: Iterable<Tensor>, maxNorm: number, who: string): [Tensor, Tensor] {
  const ps = [...params].filter((p) => p.grad);
  if (ps.length === 0) throw new Error(`${who}: no parameter has a gradient`);
  const be = ps[0].backend;
  if (ps.some((p) => p.backend !== be)) throw new Error(`${who}: gradients on several backends`);
  const items = ps.map((p) => ({ buf: p.grad!.buf(who), n: p.size }));
  const [norm, scale] = be.gradNorm(items, maxNorm);
  return [new Tensor(be, norm, [1]), new Tensor(be, scale, [1])];
}

/** √(Σ‖g‖²) over the parameters' gradients, as a 1-element device tensor. */
export function globalGradNorm(params: Iterable<Tensor>): Tensor {
  const [norm, scale] = gradNorm(params, 0, "globalGradNorm");
  scale.dispose();
  return norm;
}

/**
 * The factor that clips the global gradient norm to `maxNorm`, min(1, maxNorm / (norm + 1e-6))
 * as PyTorch's clip_grad_norm_, as a 1-element device tensor to pass to `Adam.step`. Two
 * dispatches for up to seven gradients; the gradients themselves are not modified.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const [norm, scale] = gradNorm(params, maxNorm, "clipGradNorm");
  norm.dispose();
  return scale;
}

/**
 * Moves the tensors' data into one allocation of their backend (parts, one per tensor), so
 * kernels over several of them (Adam) bind one buffer. Identity, shape and values unchanged.
 */
function packInto(ts: Tensor[]): void {
  if (ts.length < 2) return;
  const parts = ts[0].backend.allocParts(ts.map((t) => t.size));
  ts.forEach((t, k) => t.rehome(parts[k]));
}

/** Learning rate for a 0-based optimizer step. */
export type Schedule = (step: number) => number;

export function constantSchedule(lr: number): Schedule {
  return () => lr;
}

/**
 * Cosine annealing from `lr` to `minLr` over `totalSteps` (PyTorch CosineAnnealingLR with
 * T_max = totalSteps − warmupSteps, stepped once per optimizer step), after an optional linear
 * warm-up lr·(t+1)/warmupSteps for t < warmupSteps. Steps past the end stay at `minLr`.
 */
export function cosineSchedule(o: {
  lr: number;
  totalSteps: number;
  warmupSteps?: number;
  minLr?: number;
}): Schedule {
  const warm = o.warmupSteps ?? 0, minLr = o.minLr ?? 0;
  if (!(o.totalSteps > warm)) {
    throw new Error(
      `cosineSchedule: totalSteps (${o.totalSteps}) must exceed warmupSteps (${warm})`,
    );
  }
  const T = o.totalSteps - warm;
  return (t) => {
    if (t < warm) return (o.lr * (t + 1)) / warm;
    const k = Math.min(t - warm, T);
    return minLr + ((o.lr - minLr) * (1 + Math.cos((Math.PI * k) / T))) / 2;
  };
}

/** [GZ]'s "linear" option: PyTorch StepLR, lr·γ^⌊t/stepSize⌋ (γ 0.9 every 100 steps there). */
export function stepSchedule(o: { lr: number; stepSize: number; gamma: number }): Schedule {
  return (t) => o.lr * Math.pow(o.gamma, Math.floor(t / o.stepSize));
}
