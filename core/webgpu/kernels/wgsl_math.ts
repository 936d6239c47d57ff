/**
 * The WGSL math every kernel shares (elementwise ops, the matmul's activation epilogue, the
 * selective scan's softplus and gate), written for stability rather than taken from the
 * builtins: tanh via exp(−2|x|) (builtin tanh may overflow to NaN on some drivers) with a series
 * near 0, log1p with a series for tiny arguments, and pow with Math.pow's sign rules for
 * negative bases (WGSL's pow is undefined there).
 */
export const MATH = `
const K_GELU: f32 = 0.7978845608028654;
const C_GELU: f32 = 0.044715;
// Branch-free (selects): lanes run in SIMD on llvmpipe, where a divergent branch runs both.
fn sigm(x: f32) -> f32 {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, x >= 0.0);
}
fn tanh_(x: f32) -> f32 {
  let x2 = x * x;
  let series = x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 +
    x2 * -0.05396825396825397)));
  let e = exp(-2.0 * abs(x));
  let r = (1.0 - e) / (1.0 + e);
  return select(select(-r, r, x >= 0.0), series, abs(x) < 0.125);
}
// log(1 + e) for e >= 0; the quotient corrects the rounding of 1 + e (Goldberg).
fn log1p_(e: f32) -> f32 {
  let v = 1.0 + e;
  return select(log(v) * (e / (v - 1.0)), e * (1.0 - e * (0.5 - e * 0.3333333333333333)),
    e < 1e-4);
}
// mamba-ssm's threshold: softplus(x) = x above 20.
fn softplus_(x: f32) -> f32 {
  return select(log1p_(exp(x)), x, x > 20.0);
}
fn dsoftplus_(x: f32) -> f32 {
  return select(sigm(x), 1.0, x > 20.0);
}
// 0.5·x·(1 + tanh z) = x·σ(2z): no cancellation for negative x.
fn gelu_(x: f32) -> f32 {
  return x * sigm(2.0 * K_GELU * (x + C_GELU * x * x * x));
}
fn gelu_d(x: f32) -> f32 {
  let s = sigm(2.0 * K_GELU * (x + C_GELU * x * x * x));
  return s + 2.0 * x * s * (1.0 - s) * K_GELU * (1.0 + 3.0 * C_GELU * x * x);
}
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  if (b == -1.0) { return 1.0 / a; }
  let isInt = b == floor(b);
  let odd = isInt && floor(b * 0.5) != b * 0.5;
  if (a == 0.0) {
    if (b > 0.0) { return select(0.0, a, odd); }
    return select(1.0 / (a * a), 1.0 / a, odd);
  }
  if (a < 0.0) {
    // NaN built at run time: a constant NaN is a shader-creation error in some WGSL compilers.
    if (!isInt) { return bitcast<f32>(0x7fc00000u | (bitcast<u32>(b) & 0u)); }
    let r = pow(-a, b);
    return select(r, -r, odd);
  }
  return pow(a, b);
}
`;
