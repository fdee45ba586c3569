// Playback of the last run in the browser (js_on_load of a gr.HTML): every frame arrives
// once, as a data URL, when the run ends; stepping and playing use no server worker.
const img = element.querySelector(".mg-frame");
const range = element.querySelector(".mg-scrub");
const label = element.querySelector(".mg-frame-label");
const play = element.querySelector(".mg-play");
let timer = null;

function frames() { return (props.value && props.value.frames) || []; }

function show(i) {
  const f = frames();
  if (!f.length) return;
  i = Math.min(Math.max(i, 1), f.length);
  range.max = f.length;
  range.value = i;
  img.src = f[i - 1];
  label.textContent = `step ${i} of ${f.length}`;
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  play.textContent = "Play";
}

range.addEventListener("input", () => { stop(); show(+range.value); });
play.addEventListener("click", () => {
  if (timer) return stop();
  if (!frames().length) return;
  let i = +range.value >= frames().length ? 0 : +range.value;
  play.textContent = "Pause";
  timer = setInterval(() => { i += 1; show(i); if (i >= frames().length) stop(); }, 350);
});
watch("value", () => { stop(); show(frames().length); });
show(frames().length);
