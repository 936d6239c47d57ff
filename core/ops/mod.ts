/** Every op, in one namespace. */
export * from "./elementwise.ts";
export * from "./reduce.ts";
export * from "./shape_ops.ts";
export * from "./matmul.ts";
export * from "./nn_ops.ts";
export * from "./fused.ts";
export * from "./stack.ts";
