/**
 * Adam / AdamW with PyTorch's semantics on the backend's fused `adam` kernel (one dispatch per
 * parameter), global-norm gradient clipping computed on the device, and learning-rate schedules.
 * Nothing here reads device memory back: the clipping factor is a 1-element device tensor that
 * the Adam kernel multiplies into the gradient.
 */
import { noGrad } from "../core/autograd.ts";
import { zeros } from "../core/create.ts";
import { add, minimum, mul, reciprocal, sqrt, square } from "../core/ops/elementwise.ts";
import { sum } from "../core/ops/reduce.ts";
import { reshape } from "../core/ops/shape_ops.ts";
import { type Tensor, tidy } from "../core/tensor.ts";

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
    for (const [name, p] of this.params) {
      if (!p.grad) continue;
      const be = p.backend;
      let st = this.#state.get(p);
      if (!st) {
        st = { m: zeros(p.shape, be).keep(), v: zeros(p.shape, be).keep(), step: 0 };
        this.#state.set(p, st);
      }
      st.step++;
      const args = {
        n: p.size,
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.decoupled ? this.weightDecay : 0,
        step: st.step,
      };
      if (!this.decoupled && this.weightDecay > 0) {
        // PyTorch Adam's weight decay is an L2 term added to the (scaled) gradient.
        noGrad(() =>
          tidy(() => {
            const g = gradScale ? mul(p.grad!, gradScale) : p.grad!;
            const g2 = add(g, mul(p, this.weightDecay));
            be.adam(p.buf(name), g2.buf(name), st!.m.buf(name), st!.v.buf(name), args, null);
          })
        );
      } else {
        be.adam(
          p.buf(name),
          p.grad.buf(name),
          st.m.buf(name),
          st.v.buf(name),
          args,
          gradScale?.buf(name) ?? null,
        );
      }
    }
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
    return this.#state.get(p);
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
      const st = this.#state.get(p);
      if (st) out.push([`optim.m.${n}`, st.m], [`optim.v.${n}`, st.v]);
    }
    return out;
  }

  toJSON(): AdamStateJSON {
    const steps: Record<string, number> = {};
    for (const [n, p] of this.params) {
      const st = this.#state.get(p);
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
   * Install state for the named parameter (checkpoint loading): m and v are uploaded into fresh
   * device tensors owned by the optimizer.
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
    const old = this.#state.get(p);
    old?.m.dispose();
    old?.v.dispose();
    this.#state.set(p, { m: m.keep(), v: v.keep(), step });
  }

  /** Free the optimizer state (m and v). */
  dispose(): void {
    for (const st of this.#state.values()) {
      st.m.dispose();
      st.v.dispose();
    }
    this.#state.clear();
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

/** √(Σ‖g‖²) over the parameters' gradients, as a 1-element device tensor. */
export function globalGradNorm(params: Iterable<Tensor>): Tensor {
  const ps = [...params].filter((p) => p.grad);
  if (ps.length === 0) throw new Error("globalGradNorm: no parameter has a gradient");
  return noGrad(() =>
    tidy(() => {
      let total: Tensor | null = null;
      for (const p of ps) {
        const s = sum(square(p.grad!));
        total = total ? add(total, s) : s;
      }
      return reshape(sqrt(total!), [1]);
    })
  );
}

/** min(1, maxNorm / (norm + 1e-6)): PyTorch's clip_grad_norm_ factor, on the device. */
export function clipScale(norm: Tensor, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipScale: maxNorm must be > 0, got ${maxNorm}`);
  return noGrad(() => tidy(() => minimum(mul(reciprocal(add(norm, 1e-6)), maxNorm), 1)));
}

/**
 * The factor that clips the global gradient norm to `maxNorm`, as a 1-element device tensor to
 * pass to `Adam.step`. The gradients themselves are not modified.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor {
  return tidy(() => clipScale(globalGradNorm(params), maxNorm));
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
