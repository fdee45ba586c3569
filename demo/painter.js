// The hole painter (js_on_load of a gr.HTML): paint over the 64x64 face at its own
// resolution, so what is painted is exactly the hole the model gets. The value is
// {face: PNG data URL, hole: 64x64 bits packed and base64-encoded}; it is sent only when an
// event reads it (no upload while painting).
const N = 64;
const canvas = element.querySelector(".mg-paint");
const ctx = canvas.getContext("2d");
const mask = new Uint8Array(N * N);
let last = null;

function decode(text) {
  mask.fill(0);
  if (!text) return;
  const bytes = atob(text);
  for (let p = 0; p < N * N && (p >> 3) < bytes.length; p++) {
    mask[p] = (bytes.charCodeAt(p >> 3) >> (7 - (p & 7))) & 1;
  }
}

function encode() {
  const bytes = new Uint8Array(N * N / 8);
  for (let p = 0; p < N * N; p++) bytes[p >> 3] |= mask[p] << (7 - (p & 7));
  return btoa(String.fromCharCode.apply(null, bytes));
}

function draw() {
  const img = ctx.createImageData(N, N);
  for (let p = 0; p < N * N; p++) if (mask[p]) img.data.set([255, 0, 255, 150], 4 * p);
  ctx.putImageData(img, 0, 0);
}

function note() {
  let n = 0;
  for (let p = 0; p < N * N; p++) n += mask[p];
  return n ? `hole: ${n} pixels (${(100 * n / (N * N)).toFixed(0)}% of the face)` : "no hole painted yet";
}

function commit() {
  props.value = {...props.value, hole: mask.some((v) => v) ? encode() : ""};
  props.note = note();
}

function stamp(x, y, on) {
  const r = props.brush / 2;
  for (let j = Math.floor(y - r); j <= Math.ceil(y + r); j++) {
    for (let i = Math.floor(x - r); i <= Math.ceil(x + r); i++) {
      if (i >= 0 && i < N && j >= 0 && j < N && (i + 0.5 - x) ** 2 + (j + 0.5 - y) ** 2 <= r * r) mask[j * N + i] = on;
    }
  }
}

function at(e) {
  const rect = canvas.getBoundingClientRect();
  return {x: (e.clientX - rect.left) / rect.width * N, y: (e.clientY - rect.top) / rect.height * N};
}

function paint(e) {
  const p = at(e), on = props.erase ? 0 : 1, from = last || p;
  const steps = Math.max(1, Math.ceil(Math.hypot(p.x - from.x, p.y - from.y) / 0.5));
  for (let k = 0; k <= steps; k++) stamp(from.x + (p.x - from.x) * k / steps, from.y + (p.y - from.y) * k / steps, on);
  last = p;
  draw();
}

canvas.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  e.preventDefault();  // a stroke, not a text selection
  canvas.setPointerCapture(e.pointerId);
  last = null;
  paint(e);
});
canvas.addEventListener("pointermove", (e) => { if (last) paint(e); });
const end = () => { if (last) { last = null; commit(); } };
canvas.addEventListener("pointerup", end);
canvas.addEventListener("pointercancel", end);
element.querySelector(".mg-clear").addEventListener("click", () => { mask.fill(0); draw(); commit(); });
element.querySelector(".mg-erase").addEventListener("click", () => { props.erase = !props.erase; });
element.querySelector(".mg-size").addEventListener("input", (e) => { props.brush = +e.target.value; });

function load() {
  decode(props.value && props.value.hole);
  draw();
  props.note = note();
}
watch("value", load);
load();
window.maskgitPainter = {warn: (message) => { props.note = `⚠ ${message}`; }};  // for the buttons' check
element.dataset.ready = "true";  // listeners attached: strokes count from now on
