/**
 * Module: a tree of named parameters and child modules, like torch.nn.Module. Parameter names
 * follow PyTorch's state_dict convention (`backbone.layers.3.mixer.in_proj.weight`), which is
 * what checkpoints store. Parameters are kept tensors (outside every `tidy` scope) owned by their
 * module until `dispose()`.
 */
import type { Tensor } from "../core/tensor.ts";

export class Module {
  /** Training mode (dropout active). Set through `train()` / `eval()` so children follow. */
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Register a trainable parameter under `name`; the module now owns the tensor. */
  protected param(name: string, t: Tensor): Tensor {
    checkName(name, this.#params, this.#children);
    if (t.dtype !== "f32") throw new Error(`param ${name}: parameters must be f32`);
    t.requiresGrad = true;
    t.keep();
    this.#params.set(name, t);
    return t;
  }

  /** Register a child module under `name` (its parameters appear as `name.<param>`). */
  protected module<M extends Module>(name: string, m: M): M {
    checkName(name, this.#params, this.#children);
    this.#children.set(name, m);
    return m;
  }

  /** All parameters with their dotted names, own parameters first, then children in order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Named child modules, direct children only. */
  children(): [string, Module][] {
    return [...this.#children];
  }

  /** Label each parameter tensor with its full name (shown in error messages). */
  nameParameters(): this {
    for (const [n, t] of this.namedParameters()) t.name = n;
    return this;
  }

  /** Total number of parameter elements. */
  numParams(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  train(on = true): this {
    this.training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Free every parameter (and its gradient) and whatever the subclasses cache. */
  dispose(): void {
    for (const t of this.#params.values()) t.dispose();
    for (const c of this.#children.values()) c.dispose();
    this.disposeCaches();
  }

  /** Override to free non-parameter tensors a module keeps (index tables, masks). */
  protected disposeCaches(): void {}
}

function checkName(name: string, params: Map<string, unknown>, children: Map<string, unknown>) {
  if (!name || name.includes(".")) throw new Error(`Module: invalid name "${name}"`);
  if (params.has(name) || children.has(name)) {
    throw new Error(`Module: "${name}" is registered twice`);
  }
}

/** A list of modules named 0, 1, 2, ... (torch.nn.ModuleList). */
export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];
  constructor(items: M[]) {
    super();
    items.forEach((m, i) => this.module(String(i), m));
    this.items = items;
  }

  get length(): number {
    return this.items.length;
  }
}
