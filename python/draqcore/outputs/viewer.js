// draqcore viewer: video B follows video A through an alignment's time map.
// No network, no server, no dependencies: inlined into viewer.html / search.html by draqcore.
"use strict";

/** Piecewise-linear, non-decreasing A-time -> B-time map, flat outside its knots. */
function draqTimeMap(ta, tb) {
  const n = ta.length;
  function at(t) {
    if (!(n > 0)) return 0;
    if (t <= ta[0]) return tb[0];
    if (t >= ta[n - 1]) return tb[n - 1];
    let lo = 0, hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (ta[mid] <= t) lo = mid; else hi = mid;
    }
    const w = (t - ta[lo]) / (ta[hi] - ta[lo]);
    return tb[lo] + w * (tb[hi] - tb[lo]);
  }
  return at;
}

/**
 * Keep video b at map(a.currentTime) while a plays, pauses, seeks or changes rate.
 *
 * a paused: b is paused on the target. a playing: b plays at the rate that brings it onto the
 * map HORIZON seconds (wall clock) from now, rate = (map(t + v * HORIZON) - b.time) / HORIZON,
 * clamped to the browser's 1/16..16, where v is a's speed as measured over the last frames (not
 * its nominal playbackRate: a loaded machine makes a stall). When b is behind by more than SEEK_S
 * it seeks slightly ahead (SEEK_LEAD of a's time, at most MAX_LEAD_B of b's: b stalls while
 * it seeks and a keeps running); when it is
 * ahead the rate clamp lets a catch up, and b seeks back only beyond SEEK_BACK_S.
 * While a seeks, b seeks with it and stays in play state.
 */
function draqSync(a, b, map, onTick) {
  const HORIZON = 0.08, SEEK_S = 0.15, SEEK_BACK_S = 0.2, SEEK_LEAD = 0.04, MAX_LEAD_B = 0.03, MIN_RATE = 0.0625, MAX_RATE = 16;
  b.muted = true;
  let lastWall = null, lastA = null, speed = 1.0;
  function place(target) {
    if (Math.abs(b.currentTime - target) > 0.001) b.currentTime = target;
  }
  function measure(t) {
    const now = performance.now() / 1000;
    if (lastWall !== null && now - lastWall >= 0.03) {
      const v = (t - lastA) / (now - lastWall);
      if (v >= 0 && v < 4 * a.playbackRate + 1) speed = 0.7 * speed + 0.3 * v;
      lastWall = now; lastA = t;
    } else if (lastWall === null) {
      lastWall = now; lastA = t; speed = a.playbackRate;
    }
  }
  function tick() {
    const t = a.currentTime;
    const target = map(t);
    if (a.paused || a.ended) {
      lastWall = null;
      if (!b.paused) b.pause();
      place(target);
    } else if (a.seeking || a.readyState < 3) {
      lastWall = null;
      place(target);
      if (b.paused) b.play().catch(() => {});
    } else {
      measure(t);
      if (b.paused) b.play().catch(() => {});
      const err = target - b.currentTime;
      if ((err > SEEK_S || err < -SEEK_BACK_S) && !b.seeking) {
        place(Math.min(map(t + speed * SEEK_LEAD), target + MAX_LEAD_B));
      } else {
        const ahead = map(t + speed * HORIZON);
        const rate = Math.min(MAX_RATE, Math.max(MIN_RATE, (ahead - b.currentTime) / HORIZON));
        if (Math.abs(b.playbackRate - rate) > 1e-3) b.playbackRate = rate;
      }
    }
    if (onTick) onTick(t, target);
  }
  function loop() {
    tick();
    window.requestAnimationFrame(loop);
  }
  for (const ev of ["play", "pause", "seeking", "seeked", "ratechange", "timeupdate", "ended", "loadeddata"]) {
    a.addEventListener(ev, tick);
  }
  window.requestAnimationFrame(loop);
  // Also poll: requestAnimationFrame pauses in hidden tabs.
  window.setInterval(tick, 40);
  return { tick: tick, map: map };
}

function draqFmt(x, digits) {
  return (typeof x === "number" && isFinite(x)) ? x.toFixed(digits) : "–";
}

/** Build one synchronised pair inside `root` from `pair` = {a, b, map, ...}; returns the sync. */
function draqPair(root, pair) {
  const a = root.querySelector("video.draq-a");
  const b = root.querySelector("video.draq-b");
  const readout = root.querySelector(".draq-readout");
  const map = draqTimeMap(pair.map.time_a, pair.map.time_b);
  const sync = draqSync(a, b, map, function (t, target) {
    if (readout) readout.textContent = "A " + draqFmt(t, 2) + " s  →  B " + draqFmt(target, 2) + " s";
  });
  root.draqSync = sync;
  return sync;
}
