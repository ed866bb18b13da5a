#!/usr/bin/env node
// ort-run.js - runs an ONNX model with onnxruntime-node (tests/node) on a
// genie dataset, for export-onnx's tests and the demo. Node reads no HDF5:
// the caller dumps /x (and /y, and genie's logits) as raw little-endian
// arrays with h5dump -b LE.
//
//   node tests/ort-run.js MODEL.onnx X.f32 N C H W [options]
//     --opt disabled|basic|extended|all  graph optimisation level (default all)
//     --batch B        images per run (default 500)
//     --logits OUT     write the logits, float32 [N, classes]
//     --labels Y.i32   int32 [N]: report top-1
//     --ref REF.f32    float32 [N, classes] (genie eval --logits): report the
//                      largest absolute logit difference, how many images
//                      differ by more than --tol (default 1e-4), and
//                      the top-1 agreement
// Prints one JSON object on stdout.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node', 'node_modules', 'onnxruntime-node'));

function die(msg) { process.stderr.write(`ort-run: ${msg}\n`); process.exit(1); }

async function main() {
  const a = process.argv.slice(2);
  const opt = { opt: 'all', batch: 500, tol: 1e-4 };
  const pos = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith('--')) opt[a[i].slice(2)] = a[++i];
    else pos.push(a[i]);
  }
  if (pos.length !== 6) die('usage: ort-run.js MODEL.onnx X.f32 N C H W [--opt L] [--logits OUT] [--labels Y] [--ref REF]');
  const [model, xfile] = pos;
  const [N, C, H, W] = pos.slice(2).map(Number);
  const levels = { disabled: 'disabled', basic: 'basic', extended: 'extended', all: 'all' };
  if (!levels[opt.opt]) die(`--opt ${opt.opt}: expected disabled, basic, extended or all`);
  const raw = fs.readFileSync(xfile);
  const per = C * H * W;
  if (raw.length !== N * per * 4) die(`${xfile}: ${raw.length} bytes, expected ${N * per * 4}`);
  const x = new Float32Array(raw.buffer, raw.byteOffset, N * per);
  const sess = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: levels[opt.opt], intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const B = Number(opt.batch);
  let logits = null, K = 0;
  for (let s = 0; s < N; s += B) {
    const n = Math.min(B, N - s);
    const t = new ort.Tensor('float32', x.subarray(s * per, (s + n) * per), [n, C, H, W]);
    const r = await sess.run({ [sess.inputNames[0]]: t });
    const y = r[sess.outputNames[0]].data;
    if (!logits) { K = y.length / n; logits = new Float32Array(N * K); }
    logits.set(y, s * K);
  }
  const argmax = (v, i) => { let b = 0; for (let k = 1; k < K; k++) if (v[i * K + k] > v[i * K + b]) b = k; return b; };
  const out = { n: N, classes: K, opt: opt.opt };
  if (opt.logits) fs.writeFileSync(opt.logits, Buffer.from(logits.buffer));
  if (opt.labels) {
    const yb = fs.readFileSync(opt.labels);
    const y = new Int32Array(yb.buffer, yb.byteOffset, yb.length / 4);
    if (y.length !== N) die(`${opt.labels}: ${y.length} labels for ${N} images`);
    let ok = 0;
    for (let i = 0; i < N; i++) ok += argmax(logits, i) === y[i];
    out.top1 = 100 * ok / N;
  }
  if (opt.ref) {
    const rb = fs.readFileSync(opt.ref);
    const ref = new Float32Array(rb.buffer, rb.byteOffset, rb.length / 4);
    if (ref.length !== N * K) die(`${opt.ref}: ${ref.length} values, expected ${N * K}`);
    let maxd = 0, over = 0, agree = 0;
    for (let i = 0; i < N; i++) {
      let m = 0;
      for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(logits[i * K + k] - ref[i * K + k]));
      maxd = Math.max(maxd, m);
      over += m > Number(opt.tol);
      agree += argmax(logits, i) === argmax(ref, i);
    }
    Object.assign(out, { max_abs_diff: maxd, tol: Number(opt.tol), over_tol: over, top1_agree: 100 * agree / N });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
main().catch((e) => die(e.message || String(e)));
