/**
 * Task factory by name. Defaults follow the MambaFormer paper's Table 1 (section 0.1 of the
 * spec): d = 20 and N = 41 (LR), 101 (sparse LR, 2NN, tree, orthogonal outliers), 512 (many
 * outliers); parity d = 10, N = 140, k = 2; CoT-I/O d = 10, N = 101, h = 8; MQAR d = 20,
 * 32 pairs, 16 queries.
 */
import { ChainOfThoughtIO } from "./cot.ts";
import { VectorMqar } from "./mqar.ts";
import { ManyOutlierRegression, OrthoOutlierRegression } from "./outliers.ts";
import { SparseParity } from "./parity.ts";
import {
  DecisionTreeRegression,
  LinearRegression,
  Relu2nnRegression,
  SkewedLinearRegression,
  SparseLinearRegression,
} from "./regression.ts";
import type { Task } from "./task.ts";

/** Every task name `makeTask` accepts. */
export const TASK_NAMES = [
  "linear_regression",
  "sparse_linear_regression",
  "relu_2nn_regression",
  "decision_tree",
  "skewed_linear_regression",
  "ortho_outlier_regression",
  "many_outlier_regression",
  "sparse_parity",
  "cot_io",
  "mqar",
] as const;

/** A task name. */
export type TaskName = typeof TASK_NAMES[number];

/** Union of every task's options; `makeTask` rejects options that do not apply to the task. */
export interface TaskOptions {
  nDims?: number;
  nPoints?: number;
  /** Sparsity (sparse LR) or subset size (parity). */
  k?: number;
  /** Hidden width (2NN regression, CoT-I/O). */
  hidden?: number;
  /** Decision-tree depth. */
  depth?: number;
  /** Skewed LR eigenvalue exponent. */
  exp?: number;
  /** Skewed LR: one fixed rotation from this seed instead of one per batch. */
  fixedRotationSeed?: number;
  /** Outlier probability. */
  p?: number;
  /** Orthogonal outliers: new dummy coefficients per position. */
  freshDummyPerPosition?: boolean;
  /** Parity: one subset per batch (reference repo) instead of per prompt. */
  subsetPerBatch?: boolean;
  /** MQAR key-value pairs (alias of nPoints). */
  nPairs?: number;
  /** MQAR queries. */
  nQueries?: number;
  /** MQAR vector norm. */
  vectorNorm?: number;
}

const SIZES = ["nDims", "nPoints"] as const;
const ALLOWED: Record<TaskName, readonly (keyof TaskOptions)[]> = {
  linear_regression: SIZES,
  sparse_linear_regression: [...SIZES, "k"],
  relu_2nn_regression: [...SIZES, "hidden"],
  decision_tree: [...SIZES, "depth"],
  skewed_linear_regression: [...SIZES, "exp", "fixedRotationSeed"],
  ortho_outlier_regression: [...SIZES, "p", "freshDummyPerPosition"],
  many_outlier_regression: [...SIZES, "p"],
  sparse_parity: [...SIZES, "k", "subsetPerBatch"],
  cot_io: [...SIZES, "hidden"],
  mqar: [...SIZES, "nPairs", "nQueries", "vectorNorm"],
};

/** True when `name` is one of TASK_NAMES. */
export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/**
 * Builds a task by name. Throws an Error naming the bad field for an unknown name, an option
 * that does not apply to the task, or impossible sizes (non-positive, k > d, queries > pairs).
 */
export function makeTask(name: string, opts: TaskOptions = {}): Task {
  if (!isTaskName(name)) {
    throw new Error(
      `makeTask: unknown task name "${name}"; expected one of ${TASK_NAMES.join(", ")}`,
    );
  }
  for (const [key, value] of Object.entries(opts)) {
    if (value === undefined) continue;
    if (!(ALLOWED[name] as readonly string[]).includes(key)) {
      throw new Error(`makeTask: option "${key}" does not apply to task "${name}"`);
    }
  }
  switch (name) {
    case "linear_regression":
      return new LinearRegression(opts);
    case "sparse_linear_regression":
      return new SparseLinearRegression(opts);
    case "relu_2nn_regression":
      return new Relu2nnRegression(opts);
    case "decision_tree":
      return new DecisionTreeRegression(opts);
    case "skewed_linear_regression":
      return new SkewedLinearRegression(opts);
    case "ortho_outlier_regression":
      return new OrthoOutlierRegression(opts);
    case "many_outlier_regression":
      return new ManyOutlierRegression(opts);
    case "sparse_parity":
      return new SparseParity(opts);
    case "cot_io":
      return new ChainOfThoughtIO(opts);
    case "mqar":
      return new VectorMqar(opts);
  }
}
