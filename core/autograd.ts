/**
 * Reverse-mode autograd, micrograd-style: each op result remembers its inputs and a backward
 * closure written with other ops, so every backend gets gradients for free.
 */
import type { DeviceBuffer, DType } from "./backend.ts";
import type { Backend } from "./backend.ts";
import { stridesOf } from "./shape.ts";
import { type BlockGrad, Tensor, tidy } from "./tensor.ts";

let gradEnabled = true;

/** Run `fn` without recording the graph (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Check that every input lives on one backend and is alive; returns that backend. */
export function backendOf(op: string, inputs: readonly Tensor[]): Backend {
  const b = inputs[0].backend;
  for (const t of inputs) {
    t.buf(op);
    if (t.backend !== b) {
      throw new Error(`${op}: tensors on different backends (${b.name} and ${t.backend.name})`);
    }
  }
  return b;
}

/**
 * Wrap a kernel result as a tensor and, when any input needs a gradient, attach the backward
 * rule. `backward` receives the output gradient and returns one gradient (or null) per input.
 */
export function result(
  op: string,
  buf: DeviceBuffer,
  shape: readonly number[],
  inputs: readonly Tensor[],
  backward?: (dy: Tensor, out: Tensor) => readonly (Tensor | BlockGrad | null)[],
  dtype: DType = "f32",
): Tensor {
  const out = new Tensor(inputs[0].backend, buf, shape, dtype);
  if (backward && gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward: (dy) => backward(dy, out) };
  }
  return out;
}

/** Attach a backward rule to an already-built tensor (ops composed from other ops). */
export function attachGrad(
  op: string,
  out: Tensor,
  inputs: readonly Tensor[],
  backward: (dy: Tensor) => readonly (Tensor | null)[],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward };
  }
  return out;
}

export interface BackwardOptions {
  /**
   * Also dispose each intermediate tensor of the graph (every non-leaf tensor but the root) as
   * soon as its own backward has run: all its consumers' backwards ran before it, so nothing
   * needs its value any more. Cuts a training step's peak memory to the activations not yet
   * consumed. Only for callers that keep no intermediate (the trainer: the loss alone).
   */
  release?: boolean;
}

/**
 * Backpropagate from `root` (a scalar unless `grad` is given). Leaf tensors that require grad
 * accumulate into `.grad`, which they own (kept out of scopes) until `zeroGrad`. Intermediate
 * gradients are freed as soon as they are consumed.
 */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: ${root.describe()} does not require grad (no parameter reaches it)`);
  }
  if (!grad && root.size !== 1) {
    throw new Error(`backward: ${root.describe()} is not a scalar; pass the output gradient`);
  }
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // Iterative DFS: graphs of deep models overflow the JS stack when walked recursively.
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0) {
      if (seen.has(t.id)) {
        stack.pop();
        continue;
      }
      seen.add(t.id);
    }
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      if (inputs[i].requiresGrad && !seen.has(inputs[i].id)) stack.push([inputs[i], 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const grads = new Map<number, Tensor>();
  const blocks = new Map<number, BlockGrad[]>();
  // How many entries of `grads` hold each gradient tensor (a backward may pass dy through).
  const held = new Map<Tensor, number>();
  const hold = (t: Tensor) => held.set(t, (held.get(t) ?? 0) + 1);
  const drop = (t: Tensor) => {
    const n = (held.get(t) ?? 1) - 1;
    if (n > 0) held.set(t, n);
    else {
      held.delete(t);
      if (t !== grad) t.dispose(); // (the caller's own output gradient stays theirs)
    }
  };
  const rootGrad = grad ?? onesLike(root);
  grads.set(root.id, rootGrad);
  hold(rootGrad);
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const parts = blocks.get(t.id);
      if (parts) {
        blocks.delete(t.id);
        const dense = grads.get(t.id);
        const whole = joinBlocks(t, dense, parts);
        grads.set(t.id, whole);
        hold(whole);
        if (dense) drop(dense);
        for (const b of parts) drop(b.block);
      }
      const g = grads.get(t.id);
      if (!g) {
        if (opts.release && t.gradFn && t !== root) t.dispose();
        continue;
      }
      grads.delete(t.id);
      if (!t.gradFn) {
        accumulateLeaf(t, g);
        drop(g);
        continue;
      }
      const firstNew = Tensor.nextId;
      // Its own scope: what the rule makes on the way (views, transposes) dies with it.
      const gs = tidy(() => t.gradFn!.backward(g));
      t.gradFn.inputs.forEach((inp, k) => {
        const gi = gs[k];
        if (!gi || !inp.requiresGrad) return;
        if (!(gi instanceof Tensor)) {
          checkBlock(t.gradFn!.op, gi, inp);
          const list = blocks.get(inp.id);
          if (list) list.push(gi);
          else blocks.set(inp.id, [gi]);
          hold(gi.block);
          return;
        }
        if (gi.shape.length !== inp.shape.length || gi.shape.some((d, j) => d !== inp.shape[j])) {
          throw new Error(
            `backward of ${
              t.gradFn!.op
            }: gradient ${gi.describe()} does not match input ${inp.describe()}`,
          );
        }
        const prev = grads.get(inp.id);
        const next = prev ? addRaw(prev, gi) : gi;
        grads.set(inp.id, next);
        hold(next);
        if (prev) drop(prev);
      });
      drop(g);
      // Tensors this backward made that no entry holds (unused results, summed operands).
      for (const gb of gs) {
        const gi = gb instanceof Tensor ? gb : gb?.block;
        if (gi && gi.id >= firstNew && !held.has(gi)) gi.dispose();
      }
      if (opts.release && t !== root) t.dispose();
    }
  });
}

function checkBlock(op: string, b: BlockGrad, inp: Tensor): void {
  const s = b.block.shape;
  const fits = s.length === inp.rank && b.start >= 0 &&
    s.every((d, j) => j === b.axis ? b.start + d <= inp.shape[j] : d === inp.shape[j]);
  if (!fits) {
    throw new Error(
      `backward of ${op}: gradient block ${b.block.describe()} at ${b.start} along axis ` +
        `${b.axis} does not fit input ${inp.describe()}`,
    );
  }
}

/**
 * t's gradient from its blocks (and a dense part, if any): blocks that tile t along one axis
 * with no dense part are copied into one new buffer; anything else is padded and summed.
 */
function joinBlocks(t: Tensor, dense: Tensor | undefined, parts: BlockGrad[]): Tensor {
  const be = t.backend;
  const st = stridesOf(t.shape);
  const place = (b: BlockGrad, out: DeviceBuffer) =>
    be.copy(b.block.buf("grad"), { offset: 0, strides: stridesOf(b.block.shape) }, out, {
      offset: b.start * st[b.axis],
      strides: st,
    }, b.block.shape);
  const sorted = [...parts].sort((a, b) => a.start - b.start);
  let end = 0;
  const tiles = !dense && sorted.every((b) => {
    const ok = b.axis === sorted[0].axis && b.start === end;
    end += b.block.shape[b.axis];
    return ok;
  }) && end === t.shape[sorted[0].axis];
  if (tiles) {
    const out = be.alloc(t.size, "f32");
    for (const b of sorted) place(b, out);
    return new Tensor(be, out, t.shape);
  }
  let acc = dense ?? null;
  for (const b of sorted) {
    const out = be.fill(t.size, 0);
    place(b, out);
    const p = new Tensor(be, out, t.shape);
    if (!acc) acc = p;
    else {
      const sum = addRaw(acc, p);
      if (acc !== dense) acc.dispose();
      p.dispose();
      acc = sum;
    }
  }
  return acc!;
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  const home = t.gradHome;
  if (home && !home.disposed && (!t.grad || t.grad.buf() === home.buf())) {
    // Into the optimizer's packed storage: a buffer copy, not a dispatch.
    const v = { offset: 0, strides: [1] };
    const src = t.grad ? addRaw(t.grad, g) : g;
    t.backend.copy(src.buf("grad"), v, home.buf("grad"), v, [t.size]);
    if (src !== g) src.dispose();
    t.grad ??= home.view(t.shape).keep();
    return;
  }
  if (t.grad) {
    const sum = addRaw(t.grad, g).keep();
    t.grad.dispose();
    t.grad = sum;
  } else {
    // The grad may be the very tensor another node still uses; give the leaf its own handle.
    t.grad = g.view(g.shape).keep();
  }
}

function onesLike(t: Tensor): Tensor {
  return new Tensor(t.backend, t.backend.fill(t.size, 1), t.shape);
}

function addRaw(a: Tensor, b: Tensor): Tensor {
  const st = a.shape.map((_, i, s) => s.slice(i + 1).reduce((x, y) => x * y, 1));
  const v = { offset: 0, strides: st };
  return new Tensor(
    a.backend,
    a.backend.binary("add", a.buf("add"), v, b.buf("add"), v, a.shape),
    a.shape,
  );
}

/** Free the gradients of these tensors. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
