/**
 * CPU reference of the fused LSTM cell: one time step's gate nonlinearities and cell update.
 * gates [B, 4H] are the pre-activations in PyTorch's order (i, f, g, o); the state travels as
 * hc [B, 2H] (h then c in each row), so one buffer carries both into the next step:
 *   i, f, o = σ(·), g = tanh(·);  c = f·c_prev + i·g;  h = o·tanh(c).
 * A missing prev is the zero state. The backward takes d(hc) and gives d(gates) and d(prev),
 * whose h half is zero (h_prev reaches the gates through the recurrent matmul, not this cell).
 */
import { sigmoid } from "./elementwise.ts";

export function lstmCellCpu(
  gates: Float32Array,
  prev: Float32Array | null,
  batch: number,
  hidden: number,
): Float32Array {
  const H = hidden, hc = new Float32Array(batch * 2 * H);
  for (let b = 0; b < batch; b++) {
    const a = b * 4 * H, s = b * 2 * H;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(gates[a + j]), f = sigmoid(gates[a + H + j]);
      const g = Math.tanh(gates[a + 2 * H + j]), o = sigmoid(gates[a + 3 * H + j]);
      const c = (prev ? f * prev[s + H + j] : 0) + i * g;
      hc[s + j] = o * Math.tanh(c);
      hc[s + H + j] = c;
    }
  }
  return hc;
}

export function lstmCellGradCpu(
  gates: Float32Array,
  prev: Float32Array | null,
  dhc: Float32Array,
  batch: number,
  hidden: number,
): { dGates: Float32Array; dPrev: Float32Array | null } {
  const H = hidden;
  const dGates = new Float32Array(batch * 4 * H);
  const dPrev = prev ? new Float32Array(batch * 2 * H) : null;
  for (let b = 0; b < batch; b++) {
    const a = b * 4 * H, s = b * 2 * H;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(gates[a + j]), f = sigmoid(gates[a + H + j]);
      const g = Math.tanh(gates[a + 2 * H + j]), o = sigmoid(gates[a + 3 * H + j]);
      const cp = prev ? prev[s + H + j] : 0;
      const tc = Math.tanh(f * cp + i * g);
      const dh = dhc[s + j];
      const dc = dhc[s + H + j] + dh * o * (1 - tc * tc);
      dGates[a + j] = dc * g * i * (1 - i);
      dGates[a + H + j] = dc * cp * f * (1 - f);
      dGates[a + 2 * H + j] = dc * i * (1 - g * g);
      dGates[a + 3 * H + j] = dh * tc * o * (1 - o);
      if (dPrev) dPrev[s + H + j] = dc * f;
    }
  }
  return { dGates, dPrev };
}
