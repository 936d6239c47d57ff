/**
 * exp:cot: Chain-of-Thought I/O, the CoT row of the MambaFormer paper's Fig. 1a (Table 1, A.3.6,
 * after Li et al. 2023): prompts (x_1, s_1, y_1, ..., x_N, s_N, y_N) with s = ReLU(W x) and
 * y = v·s (d=10, h=8, N=101; `--hidden` sets h, Park sweeps 4, 8, 16; `--sizes tiny,small,standard`
 * is Park's Table 2), for any architecture.
 *
 * What is trained and measured (kept simple, documented here):
 * - One read-out of width 1 + h: channel 0 is the y head, read at each s_i token; channels
 *   1..h are the s head, read at each x_i token.
 * - Training teacher-forces both heads on the true tokens: loss = MSE(ŷ, y) + h · MSE(ŝ, s),
 *   i.e. Li et al.'s mean_i (ŷ_i − y_i)² + mean_i ||ŝ_i − s_i||² (both terms have trivial value d).
 * - The mark metric is the paper's CoT inference for the late queries, computed exactly: for each
 *   late position i, the prompt is cut after x_i's s-slot, the model's own ŝ_i (from the x_i
 *   token) is written into that slot, and ŷ_i is read there; earlier examples keep their true
 *   s_j and y_j, as a prompt's demonstrations do. One forward pass per late position.
 * - Also reported: the teacher-forced ŷ (true s_i in the slot; this is the per-position curve in
 *   the figure) and the s-head error ||ŝ − s||² / d, both averaged over the same late positions.
 *
 *   deno task exp:cot
 *   deno task exp:cot --backend cpu --steps 200 --eval-prompts 128 --hidden 8
 *   deno task exp:cot --preset paper --out runs/cot-paper [--resume]
 */
import { noGrad } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { fromArray, fromInts } from "../core/create.ts";
import * as op from "../core/ops/mod.ts";
import { tidy } from "../core/tensor.ts";
import type { ICLModel } from "../nn/mod.ts";
import { BASELINES_FOR_TASK } from "../tasks/baselines.ts";
import { ChainOfThoughtIO } from "../tasks/cot.ts";
import { defaultCurriculum } from "../tasks/curriculum.ts";
import { concatRows, pointwiseErrors, positionStats } from "../tasks/metrics.ts";
import type { IclBatch } from "../tasks/task.ts";
import { parseCli } from "./lib/cli.ts";
import { type EvalResult, evaluatePredictions, rangeMean } from "./lib/evaluate.ts";
import { finishFamily, runFamily } from "./lib/family.ts";
import { type CommonOptions, parseCommon, scriptFlags } from "./lib/flags.ts";
import { FIG1A_MODELS, FIG1A_TITLES } from "./lib/marks.ts";
import { buildSpecs, makeSpec, type TaskPart } from "./lib/presets.ts";
import type { ModelEval, SuiteSpec, TaskHead } from "./lib/spec.ts";

/** The task of this script. */
export const COT_KEYS = ["cot_io"] as const;

/** Model outputs [B, T, outDim] on the host, without gradients. */
async function forwardHost(
  model: ICLModel,
  tokens: Float32Array,
  shape: [number, number, number],
  backend: Backend,
): Promise<Float32Array> {
  const out = noGrad(() => tidy(() => model.forward(fromArray(tokens, shape, backend))));
  try {
    return await out.floats();
  } finally {
    out.dispose();
  }
}

function resultOf(errs: Float64Array[], positions: number, seed: number): EvalResult {
  const errors = concatRows(errs);
  const prompts = errors.length / positions;
  return { errors, prompts, positions, stats: positionStats(errors, prompts, positions, { seed }) };
}

/** The two-head training loss and the CoT evaluation for a CoT-I/O task with hidden width h. */
export function cotHead(task: ChainOfThoughtIO): TaskHead {
  const h = task.hidden, d = task.nDims, outDim = 1 + h;
  return {
    outDim,
    loss(model, b, backend) {
      const inter = b.intermediate!;
      const n = b.predPos.length;
      const out = model.forward(fromArray(b.tokens, [b.batch, b.seqLen, b.tokenDim], backend));
      const yHat = op.gather(op.slice(out, 2, 0, 1), fromInts(b.predPos, [n], backend), 1);
      const sHat = op.gather(op.slice(out, 2, 1, outDim), fromInts(inter.predPos, [n], backend), 1);
      const y = fromArray(b.targets, [b.batch, n, 1], backend);
      const s = fromArray(inter.targets, [b.batch, n, h], backend);
      return op.add(op.mseLoss(yHat, y), op.mul(op.mseLoss(sHat, s), h));
    },
    async evaluate(model, batches, backend, late, seed): Promise<ModelEval> {
      const tf = new Map<IclBatch, Float32Array>(), ar = new Map<IclBatch, Float32Array>();
      const sErrs: Float64Array[] = [];
      for (const b of batches) {
        const inter = b.intermediate!;
        const B = b.batch, T = b.seqLen, td = b.tokenDim, n = b.predPos.length;
        const out = await forwardHost(model, b.tokens, [B, T, td], backend);
        const yTf = new Float32Array(B * n), sHat = new Float32Array(B * n * h);
        for (let p = 0; p < B; p++) {
          for (let i = 0; i < n; i++) {
            yTf[p * n + i] = out[(p * T + b.predPos[i]) * outDim];
            const base = (p * T + inter.predPos[i]) * outDim + 1;
            sHat.set(out.subarray(base, base + h), (p * n + i) * h);
          }
        }
        tf.set(b, yTf);
        const spec = { metric: "squared_error" as const, normalizer: d, outDim: h };
        sErrs.push(pointwiseErrors(spec, sHat, inter.targets, B, n));
        // Exact CoT inference at the late positions: cut after the s-slot, write ŝ_i, read ŷ_i.
        const yAr = new Float32Array(B * n).fill(NaN);
        for (let i = late[0]; i < late[1]; i++) {
          const Ti = b.predPos[i] + 1;
          const toks = new Float32Array(B * Ti * td);
          for (let p = 0; p < B; p++) {
            toks.set(b.tokens.subarray(p * T * td, (p * T + Ti) * td), p * Ti * td);
            const slot = (p * Ti + b.predPos[i]) * td + inter.tokenOffset;
            toks.set(sHat.subarray((p * n + i) * h, (p * n + i + 1) * h), slot);
          }
          const o = await forwardHost(model, toks, [B, Ti, td], backend);
          for (let p = 0; p < B; p++) yAr[p * n + i] = o[(p * Ti + b.predPos[i]) * outDim];
        }
        ar.set(b, yAr);
      }
      const curve = evaluatePredictions(task, batches, (b) => tf.get(b)!, seed);
      const arRes = evaluatePredictions(task, batches, (b) => ar.get(b)!, seed);
      const sRes = resultOf(sErrs, batches[0].predPos.length, seed);
      return {
        curve,
        ...rangeMean(arRes, late[0], late[1], seed),
        extra: {
          "teacher-forced ŷ error / d": rangeMean(curve, late[0], late[1], seed),
          "ŝ error ||ŝ − s||² / d": rangeMean(sRes, late[0], late[1], seed),
        },
      };
    },
  };
}

/** The CoT-I/O task part for a preset, with --dims/--points/--hidden applied. */
export function cotPart(o: CommonOptions): TaskPart {
  const paper = o.preset === "paper";
  const base = paper
    ? { nDims: 10, hidden: 8, nPoints: 101 }
    : { nDims: 4, hidden: 4, nPoints: 16 };
  const task = new ChainOfThoughtIO({
    nDims: o.dims ?? base.nDims,
    hidden: o.hidden ?? base.hidden,
    nPoints: o.points ?? base.nPoints,
  });
  const text = `d=${task.nDims}, h=${task.hidden}, N=${task.nPoints}`;
  const paperText = "d=10, h=8, N=101";
  let curriculum = paper ? defaultCurriculum("cot_io") : undefined;
  if (curriculum) {
    curriculum = {
      dims: { ...curriculum.dims, start: task.nDims, end: task.nDims },
      points: {
        ...curriculum.points,
        start: Math.min(curriculum.points.start, task.nPoints),
        end: task.nPoints,
      },
    };
  }
  return {
    key: "cot_io",
    title: FIG1A_TITLES.cot_io,
    task,
    curriculum,
    quickCurriculum: "points",
    models: [...FIG1A_MODELS],
    // Park's Fig. 6 compares Transformer and Mamba; MambaFormer is Fig. 1a's third column.
    baselines: [...(BASELINES_FOR_TASK.cot_io ?? [])],
    metricName: "CoT-inference squared error / d",
    curveMetric: "teacher-forced ŷ squared error / d",
    description: `${text}${paper ? ", points curriculum 26→101" : ""}; trained teacher-forced on ` +
      "y and s heads, scored with the model's own ŝ",
    departures: [
      ...(text === paperText ? [] : [`task sizes ${text} (paper: ${paperText})`]),
      ...(paper ? [] : [
        "points curriculum compressed: from N/3 to N at 40% of the steps (paper: 26→101 over 30k)",
      ]),
    ],
    head: cotHead(task),
  };
}

/** The CoT-I/O spec with the command-line overrides applied. */
export function cotSpecs(o: CommonOptions): SuiteSpec[] {
  return [makeSpec(cotPart(o), o)];
}

if (import.meta.main) {
  const NAME = "exp:cot";
  const flags = parseCli(
    NAME,
    "Chain-of-Thought I/O (2-layer ReLU networks with the hidden features in the prompt) for " +
      "any architecture at a grid of sizes, compared at matched training FLOPs",
    scriptFlags(["dims", "points", "hidden"]),
  );
  const o = parseCommon(NAME, flags, COT_KEYS);
  const specs = buildSpecs(NAME, () => cotSpecs(o));
  const { summary, outDir } = await runFamily("cot", specs, o);
  await finishFamily(outDir, summary, o.json);
}
