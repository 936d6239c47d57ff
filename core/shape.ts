/** Shape arithmetic shared by every op: sizes, strides, broadcasting, axis normalisation. */

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

export function fmt(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** numpy broadcasting of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read `shape` as if broadcast to `outShape` (stride 0 on broadcast axes). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => {
    const j = i - off;
    return j < 0 || shape[j] === 1 ? 0 : st[j];
  });
}

/** Normalise possibly negative axes; throws on out-of-range or repeated axes. */
export function normAxes(op: string, shape: Shape, axes: number | number[] | undefined): number[] {
  const r = shape.length;
  if (axes === undefined) return shape.map((_, i) => i);
  const list = typeof axes === "number" ? [axes] : axes;
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -r || a >= r) {
      throw new Error(`${op}: axis ${a} is out of range for shape ${fmt(shape)}`);
    }
    return a < 0 ? a + r : a;
  });
  if (new Set(out).size !== out.length) {
    throw new Error(`${op}: repeated axis in ${JSON.stringify(list)} for shape ${fmt(shape)}`);
  }
  return out.sort((x, y) => x - y);
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmt(shape)}`);
  }
}

/**
 * Merge adjacent axes that are contiguous in every operand's strides, so kernels iterate over
 * as few dimensions as possible (a broadcast add of [64,280,128] + [128] becomes [17920,128]).
 */
export function coalesce(
  shape: Shape,
  strideSets: number[][],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strideSets.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (
      last >= 0 &&
      strideSets.every((st, k) => outStrides[k][last] === st[i] * shape[i])
    ) {
      outShape[last] *= shape[i];
      strideSets.forEach((st, k) => (outStrides[k][last] = st[i]));
    } else {
      outShape.push(shape[i]);
      strideSets.forEach((st, k) => outStrides[k].push(st[i]));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((s) => s.push(0));
  }
  return { shape: outShape, strides: outStrides };
}
