// inkdigit page: draw on a canvas, read it live from the server in the mode picked (modes.js). Plain JS,
// no build step.
(function () {
  "use strict";

  var M = window.inkdigitModes, MODES = M.MODES;
  var REF = M.REF;            // brush sizes are in pixels of a REF x REF canvas; each mode sends its own side
  var REACH = 1;              // the server takes points up to one canvas side beyond the canvas
  var THROTTLE_MS = 150;      // at most one live read per this many ms while drawing
  var CONFIDENT = 0.6;        // fallback threshold if the server does not say "unsure"
  var PLAUSIBLE = 0.1;        // another reading of a number is shown when at least this likely relative to the answer

  var $ = function (id) { return document.getElementById(id); };
  var pad = $("pad"), overlay = $("overlay"), wrap = $("pad-wrap");
  var ctx = pad.getContext("2d"), octx = overlay.getContext("2d");

  var state = {
    strokes: [],        // each: {w: brush size in REF px, pts: [[x, y], ...] in 0..1 canvas units}
    redo: [],
    image: null,        // {bitmap, file, w, h} when an image was opened
    drawing: null,      // the stroke under the pointer
    pointerId: null,
    mode: "digit",
    model: "",
    charset: "alnum",   // what Text mode reads (its picker)
    charsets: {},       // the server's character sets by name: {name, description, labels, model}
    brush: 20,
    brushes: {},        // the pen of each mode: a line's characters are smaller, so its pen is finer
    size: 0,            // canvas CSS size in px
    dpr: 1,
    version: 0,         // bumps on every change of the drawing
    last: null,         // last answer: {kind, data, map}
    opening: 0,         // images being decoded
  };

  // ---------------------------------------------------------------- drawing

  function colours() {
    var css = getComputedStyle(document.documentElement);
    return { ink: css.getPropertyValue("--ink").trim() || "#000", accent: css.getPropertyValue("--accent").trim() };
  }

  // Where an image sits inside a square of side `side` (letter-boxed, centred, never upscaled past 1:1 * fit).
  function imageRect(img, side) {
    var scale = Math.min(side / img.w, side / img.h);
    var w = img.w * scale, h = img.h * scale;
    return { x: (side - w) / 2, y: (side - h) / 2, w: w, h: h, scale: scale };
  }

  // Smooth stroke: quadratic curves through the midpoints of successive points.
  function traceStroke(c, stroke, side) {
    var pts = stroke.pts, n = pts.length;
    c.lineWidth = stroke.w * side / REF;
    if (n === 1) {
      c.beginPath();
      c.arc(pts[0][0] * side, pts[0][1] * side, c.lineWidth / 2, 0, Math.PI * 2);
      c.fill();
      return;
    }
    c.beginPath();
    c.moveTo(pts[0][0] * side, pts[0][1] * side);
    for (var i = 1; i < n - 1; i++) {
      var mx = (pts[i][0] + pts[i + 1][0]) / 2, my = (pts[i][1] + pts[i + 1][1]) / 2;
      c.quadraticCurveTo(pts[i][0] * side, pts[i][1] * side, mx * side, my * side);
    }
    c.lineTo(pts[n - 1][0] * side, pts[n - 1][1] * side);
    c.stroke();
  }

  // Paint the drawing into any 2-D context of side `side` (the screen canvas or an offscreen one).
  function paintInto(c, side, ink, paper) {
    c.save();
    c.clearRect(0, 0, side, side);
    if (paper) { c.fillStyle = paper; c.fillRect(0, 0, side, side); }
    if (state.image) {
      var r = imageRect(state.image, side);
      c.imageSmoothingQuality = "high";
      c.drawImage(state.image.bitmap, r.x, r.y, r.w, r.h);
    }
    c.strokeStyle = ink; c.fillStyle = ink;
    c.lineCap = "round"; c.lineJoin = "round";
    var all = state.drawing ? state.strokes.concat([state.drawing]) : state.strokes;
    for (var i = 0; i < all.length; i++) traceStroke(c, all[i], side);
    c.restore();
  }

  var paintQueued = false;
  function paint() {
    if (paintQueued) return;
    paintQueued = true;
    requestAnimationFrame(function () {
      paintQueued = false;
      ctx.setTransform(state.dpr, 0, 0, state.dpr, 0, 0);
      paintInto(ctx, state.size, colours().ink, null);
      $("hint").classList.toggle("hidden", !isBlank());
      $("undo").disabled = state.strokes.length === 0 && !state.image;
      $("clear").disabled = isBlank();
    });
  }

  function isBlank() { return state.strokes.length === 0 && !state.drawing && !state.image; }

  function resize() {
    var rect = wrap.getBoundingClientRect();
    var dpr = window.devicePixelRatio || 1;
    state.size = rect.width; state.dpr = dpr;
    [pad, overlay].forEach(function (c) {
      c.width = Math.max(1, Math.round(rect.width * dpr));
      c.height = Math.max(1, Math.round(rect.height * dpr));
    });
    paint();
    drawOverlay();
  }

  function pointAt(e) {
    var r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
  }

  function onPointerDown(e) {
    if (state.pointerId !== null) return;                     // one pen at a time: a resting palm is ignored
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    state.pointerId = e.pointerId;
    state.drawing = { w: state.brush, pts: [pointAt(e)] };
    state.redo = [];
    changed();
  }

  function onPointerMove(e) {
    if (e.pointerId !== state.pointerId || !state.drawing) return;
    e.preventDefault();
    var events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    if (!events.length) events = [e];
    for (var i = 0; i < events.length; i++) {
      var p = pointAt(events[i]), pts = state.drawing.pts, q = pts[pts.length - 1];
      // Skip sub-pixel jitter; it only makes curves lumpy.
      if (Math.abs(p[0] - q[0]) * state.size + Math.abs(p[1] - q[1]) * state.size >= 1) pts.push(p);
    }
    changed();
  }

  function onPointerUp(e) {
    if (e.pointerId !== state.pointerId) return;
    if (state.drawing) state.strokes.push(state.drawing);
    state.drawing = null;
    state.pointerId = null;
    changed(true);
  }

  // Something in the drawing changed: repaint, and read it (now at a stroke's end, throttled while drawing).
  function changed(final) {
    state.version++;
    paint();
    if (isBlank()) { showEmpty(); return; }
    requestRead(Boolean(final));
  }

  function undo() {
    if (state.drawing) return;
    if (state.strokes.length) state.redo.push(state.strokes.pop());
    else if (state.image) state.image = null;
    else return;
    changed(true);
  }

  function redo() {
    if (!state.redo.length || state.drawing) return;
    state.strokes.push(state.redo.pop());
    changed(true);
  }

  function clearAll() {
    if (state.drawing) return;
    if (isBlank()) return;
    state.strokes = []; state.redo = []; state.image = null;
    changed(true);
    announce("Cleared.");
  }

  // ---------------------------------------------------------------- images

  function openFile(file) {
    if (!file) return;
    if (file.type && !/^image\//.test(file.type)) {
      showError("That is not an image", file.name + " is " + file.type + "; pick a PNG, JPEG or similar.");
      return;
    }
    state.opening++;
    var done = function (bitmap, w, h) {
      state.opening--;
      state.strokes = []; state.redo = [];
      state.image = { bitmap: bitmap, file: file, w: w || 1, h: h || 1 };
      changed(true);
    };
    if (window.createImageBitmap) {
      createImageBitmap(file).then(function (b) { done(b, b.width, b.height); }, function () {
        // The browser cannot decode it; the server may (or will explain why not).
        done(emptyBitmap(), 1, 1);
      });
    } else {
      var img = new Image();
      img.onload = function () { done(img, img.naturalWidth, img.naturalHeight); };
      img.onerror = function () { done(emptyBitmap(), 1, 1); };
      img.src = URL.createObjectURL(file);
    }
  }

  function emptyBitmap() { var c = document.createElement("canvas"); c.width = c.height = 1; return c; }

  // ---------------------------------------------------------------- talking to the server

  // What to send: the opened file as is (best fidelity); a drawing as its strokes, which the server paints
  // with this page's pen and which tell it where one character ends; ink over an opened image as a PNG of
  // both. `map` turns pixel coordinates of what we sent into 0..1 canvas units (to place boxes).
  function payload() {
    if (state.image && state.strokes.length === 0 && !state.drawing && state.image.file) {
      var r = imageRect(state.image, 1);
      return {
        body: state.image.file, type: state.image.file.type || "application/octet-stream",
        map: { x: r.x, y: r.y, s: r.scale, w: state.image.w, h: state.image.h },
      };
    }
    var side = MODES[state.mode].side;
    var map = { x: 0, y: 0, s: 1 / side, w: side, h: side };
    if (!state.image) return { body: JSON.stringify(strokesDoc(side)), type: "application/json", map: map };
    // toDataURL, not toBlob: Chromium may defer toBlob's encoding to idle time (up to a second after the
    // last input event), which would delay the reading at a stroke's end.
    return { body: dataUrlToBlob(snapshot(side)), type: "image/png", map: map };
  }

  // The drawing as the API's strokes JSON: points in pixels of a side x side canvas, a pen width per stroke.
  function strokesDoc(side) {
    var all = state.drawing ? state.strokes.concat([state.drawing]) : state.strokes;
    var near = function (v) { return Math.round(Math.max(-REACH, Math.min(1 + REACH, v)) * side * 100) / 100; };
    var brushes = all.map(function (s) { return s.w * side / REF; });
    var same = brushes.every(function (b) { return b === brushes[0]; });
    return {
      strokes: all.map(function (s) { return s.pts.map(function (p) { return [near(p[0]), near(p[1])]; }); }),
      width: side, height: side, brush: same ? brushes[0] : brushes,
    };
  }

  // The drawing (and any opened image) painted black on white at side x side, as a PNG data URL.
  function snapshot(side) {
    var c = document.createElement("canvas");
    c.width = c.height = side;
    paintInto(c.getContext("2d"), side, "#000000", "#ffffff");
    return c.toDataURL("image/png");
  }

  function dataUrlToBlob(url) {
    var comma = url.indexOf(","), type = url.slice(5, url.indexOf(";"));
    var bin = atob(url.slice(comma + 1)), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], { type: type });
  }

  var net = { inFlight: false, pending: false, urgent: false, lastSent: 0, timer: 0 };

  function requestRead(urgent) {
    net.pending = true;
    net.urgent = net.urgent || urgent;
    schedule();
  }

  function schedule() {
    if (net.inFlight || !net.pending) return;            // never more than one request in flight
    clearTimeout(net.timer);
    var wait = net.urgent ? 0 : Math.max(0, net.lastSent + THROTTLE_MS - performance.now());
    net.timer = setTimeout(send, wait);
  }

  function endpoint() {
    return M.endpoint(state.mode, { model: state.model, charset: state.charset });
  }

  function send() {
    if (net.inFlight || !net.pending) return;
    if (isBlank()) { net.pending = false; net.urgent = false; return; }
    var announceIt = net.urgent && !state.drawing;
    net.pending = false; net.urgent = false;
    net.inFlight = true;
    var version = state.version, mode = state.mode, charset = state.charset;
    Promise.resolve(payload()).then(function (p) {
      net.lastSent = performance.now();                  // the throttle counts from one request to the next
      return fetch(endpoint(), { method: "POST", body: p.body, headers: { "Content-Type": p.type } })
        .then(function (res) {
          return res.json().catch(function () { return { error: "The server sent something unreadable (" + res.status + ")." }; })
            .then(function (data) { return { res: res, data: data, map: p.map }; });
        });
    }).then(function (r) {
      if (isBlank() || mode !== state.mode || charset !== state.charset) return;  // cleared or switched meanwhile
      var fresh = version === state.version;
      if (!r.res.ok) {
        if (r.res.status === 422 && /blank|no ink|nothing/i.test(r.data.error || "")) showEmpty("Too faint to read", r.data.error);
        else showError(errorTitle(r.res.status), r.data.error || ("HTTP " + r.res.status));
        return;
      }
      state.last = { kind: mode, data: r.data, map: r.map };
      var speak = announceIt && fresh;
      if (mode === "digit") showDigit(r.data, speak);
      else if (mode === "letter") showChar(r.data, speak);
      else if (mode === "math") showMath(r.data, speak);
      else showLine(r.data, speak);
      drawOverlay();
    }).catch(function () {
      showError("Can't reach the server", "Is inkdigit serve still running?");
    }).then(function () {
      net.inFlight = false;
      schedule();
    });
  }

  function errorTitle(status) {
    if (status === 413) return "That image is too large";
    if (status === 415) return "That is not an image";
    if (status === 404) return "Unknown model";
    if (status === 503) return "That reader is not available";
    return "Can't read that";
  }

  // ---------------------------------------------------------------- showing answers

  var bars = [];
  function buildBars() {
    var list = $("bars");
    for (var d = 0; d < 10; d++) {
      var li = document.createElement("li");
      li.innerHTML = '<div class="col"><span class="fill"></span></div><span class="digit">' + d +
        '</span><span class="pct">0%</span>';
      li.setAttribute("aria-label", d + ": 0 percent");
      list.appendChild(li);
      bars.push(li);
    }
  }

  function pct(p) {
    var v = p * 100;
    if (v >= 100) return "100%";
    if (v >= 99.5) return ">99%";  // not a rounded-up "100%" (see sure() below)
    if (v >= 10) return v.toFixed(0) + "%";
    if (v >= 0.95) return v.toFixed(0) + "%";
    return v > 0.05 ? v.toFixed(1) + "%" : "0%";
  }

  // How sure, for people: whole percent, one decimal from 99%, and never a rounded-up "100%" the model
  // did not say (a calibrated model is often 99.x% sure; the desktop app words it the same way).
  function sure(p) {
    var v = p * 100;
    if (v > 99.9 && v < 100) return "> 99.9%";
    return (v >= 99 ? v.toFixed(1) : String(Math.round(v))) + "%";
  }

  // A percentage as a screen reader should say it: ">99%" → "more than 99 percent".
  function spoken(text) { return text.replace(/^>\s*/, "more than ").replace("%", " percent"); }

  function setBars(probs, top) {
    for (var d = 0; d < 10; d++) {
      var p = probs ? probs[d] : 0;
      bars[d].querySelector(".fill").style.height = (p * 100).toFixed(1) + "%";
      bars[d].querySelector(".pct").textContent = pct(p);
      bars[d].classList.toggle("top", probs !== null && d === top);
      bars[d].setAttribute("aria-label", d + ": " + spoken(pct(p)));
    }
  }

  function setStage(id, src) {
    var box = $(id);
    box.textContent = "";
    if (src) {
      var img = new Image();
      img.alt = "";
      img.src = src;
      box.appendChild(img);
    }
  }

  function setAnswer(stateName, big, verdict, sub, meter) {
    var answer = $("answer");
    var changedAnswer = $("big").textContent !== big || answer.dataset.state !== stateName;
    answer.dataset.state = stateName;
    answer.dataset.mode = state.mode;
    $("big").textContent = big;
    $("verdict").textContent = verdict;
    $("sub").textContent = sub;
    $("alts").hidden = true;                                 // a number's answer shows its own
    $("mathline").hidden = true;                             // and a sum its result
    $("meter-fill").style.width = Math.round((meter || 0) * 100) + "%";
    if (changedAnswer && (stateName === "sure" || stateName === "unsure")) {
      answer.classList.remove("pop");
      void answer.offsetWidth;                               // restart the animation
      answer.classList.add("pop");
    }
    answer.dataset.layout = MODES[state.mode].line ? "line" : "single";
    if (MODES[state.mode].line) {
      var n = big.length;
      answer.style.setProperty("--num-size", (n <= 3 ? 84 : n <= 5 ? 64 : n <= 8 ? 44 : 30) + "px");
    }
  }

  function isUnsure(r) { return typeof r.unsure === "boolean" ? r.unsure : r.confidence < CONFIDENT; }

  function runnerUp(r) {
    var list = (r.top_k || []).map(function (t) { return Array.isArray(t) ? t[0] : t.label; });
    return list.filter(function (d) { return d !== r.label; })[0];
  }

  function showDigit(r, speak) {
    var unsure = isUnsure(r);
    var second = runnerUp(r);
    var conf = sure(r.confidence);
    if (unsure) {
      setAnswer("unsure", String(r.label), "Not sure",
        "Maybe " + r.label + (second !== undefined ? " or " + second : "") + " (" + conf + " for " + r.label + ")", r.confidence);
    } else {
      setAnswer("sure", String(r.label), "It's a " + r.label, conf + " sure" + timing(r), r.confidence);
    }
    setBars(r.probabilities, r.label);
    $("bars").hidden = false; $("topk").hidden = true; $("chips").hidden = true; $("stages").hidden = false;
    var st = r.stages || {};
    $("stages").classList.remove("final-only");
    setStage("stage-crop", st.crop); setStage("stage-fit", st.fit20); setStage("stage-final", st.final || r.preview_png);
    $("sees").classList.remove("empty");
    if (speak) announce(unsure ? "Not sure. Maybe " + r.label + "." : "Reads " + r.label + ", " + spoken(conf) + " sure.");
  }

  // A character's label as shown: a digit model's answers carry an int `label`, the other modes' a `text`.
  function textOf(x) {
    if (Array.isArray(x)) return String(x[0]);
    return typeof x.text === "string" ? x.text : String(x.label);
  }

  // The most likely other reading of one character, from its top k.
  function secondOf(r) {
    var own = textOf(r);
    return (r.top_k || []).map(textOf).filter(function (t) { return t !== own; })[0];
  }

  // One letter (Letter mode): as a digit is shown, with the top readings as a list instead of ten bars.
  function showChar(r, speak) {
    var text = textOf(r), unsure = isUnsure(r), second = secondOf(r), conf = sure(r.confidence);
    if (unsure) {
      setAnswer("unsure", text, "Not sure",
        "Maybe " + text + (second !== undefined ? " or " + second : "") + " (" + conf + " for " + text + ")", r.confidence);
    } else {
      setAnswer("sure", text, "It's " + article(text) + " " + text, conf + " sure" + timing(r), r.confidence);
    }
    // Another kind that looks alike ("O" for "0") is worth saying even when the answer is sure.
    var alike = (r.confusable || []).map(textOf).filter(function (t) { return t !== text; });
    $("alts").textContent = alike.length ? "Could also be " + alike.join(" or ") : "";
    $("alts").hidden = !alike.length;
    setTopK(r.top_k || []);
    $("bars").hidden = true; $("topk").hidden = false; $("chips").hidden = true; $("stages").hidden = false;
    showStages(r);
    if (speak) announce(unsure ? "Not sure. Maybe " + text + "." : "Reads " + text + ", " + spoken(conf) + " sure.");
  }

  // "an" before the letters whose name starts with a vowel sound (an A, an F, an 8), "a" before the rest.
  function article(text) { return /^[AEFHILMNORSX8]/.test(text) ? "an" : "a"; }

  function setTopK(top) {
    var list = $("topk");
    list.textContent = "";
    top.forEach(function (t, i) {
      var text = textOf(t), p = Array.isArray(t) ? t[1] : t.probability;
      var li = document.createElement("li");
      if (i === 0) li.className = "top";
      var k = document.createElement("b"); k.textContent = text;
      var track = document.createElement("span"); track.className = "track";
      var fill = document.createElement("span"); fill.className = "fill";
      fill.style.width = (p * 100).toFixed(1) + "%";
      var v = document.createElement("span"); v.className = "pct"; v.textContent = pct(p);
      track.appendChild(fill);
      li.appendChild(k); li.appendChild(track); li.appendChild(v);
      li.setAttribute("aria-label", text + ": " + spoken(pct(p)));
      list.appendChild(li);
    });
  }

  // The three stages of one character's preparation when the route gives them, else just the 28x28 input.
  function showStages(r) {
    var st = r.stages || {};
    $("stages").classList.toggle("final-only", !r.stages);
    setStage("stage-crop", st.crop); setStage("stage-fit", st.fit20); setStage("stage-final", st.final || r.preview_png);
    $("sees").classList.remove("empty");
  }

  // A line of characters (Number, Text, Math): the text, which characters to check, a chip per character with
  // what the model saw, and other readings of the whole line.
  function showLine(r, speak) {
    var mode = MODES[state.mode], items = r.digits || r.chars || [];
    var anyUnsure = items.some(isUnsure);
    var conf = sure(r.confidence || 0);
    setAnswer(anyUnsure ? "unsure" : "sure", r.text || "?",
      anyUnsure ? "Not sure about every " + mode.item : items.length + " " + mode.item + (items.length === 1 ? "" : "s"),
      conf + " sure overall" + timing(r), r.confidence);
    var others = otherReadings(r);
    $("alts").textContent = others.length ? r.text + " · or " + others.join(" or ") + "?" : "";
    $("alts").hidden = !others.length;
    var chips = $("chips"), noun = mode.item.charAt(0).toUpperCase() + mode.item.slice(1);
    chips.textContent = "";
    items.forEach(function (d, i) {
      var li = document.createElement("li"), text = textOf(d), second = secondOf(d);
      if (isUnsure(d)) li.classList.add("unsure");
      var img = new Image();
      img.alt = "";
      if (d.preview_png) img.src = d.preview_png; else img.className = "none";
      var b = document.createElement("b"); b.textContent = text;
      var s = document.createElement("small"); s.textContent = pct(d.confidence);
      var row = document.createElement("span"); row.className = "row";
      row.appendChild(b); row.appendChild(s);
      li.appendChild(img); li.appendChild(row);
      if (isUnsure(d) && second !== undefined) {             // an unsure character says what else it may be
        var or = document.createElement("small"); or.className = "or"; or.textContent = "or " + second;
        li.appendChild(or);
      }
      li.setAttribute("aria-label", noun + " " + (i + 1) + ": " + text + ", " + spoken(sure(d.confidence)) +
        (isUnsure(d) && second !== undefined ? ", or maybe " + second : ""));
      chips.appendChild(li);
    });
    $("bars").hidden = true; $("topk").hidden = true; chips.hidden = false; $("stages").hidden = true;
    $("sees").classList.remove("empty");
    if (speak) announce("Reads " + (r.text || "nothing") + (others.length ? ", or maybe " + others.join(" or ") : "") + ".");
  }

  // A sum (Math): the line as read, then the evaluator's result ("12+7 = 19") or what is wrong with it.
  function showMath(r, speak) {
    showLine(r, false);
    var line = M.mathLine(r), el = $("mathline");
    el.textContent = line;
    el.dataset.ok = r.ok ? "true" : "false";
    el.hidden = !line;
    if (speak) announce("Reads " + (r.text || "nothing") + ". " + line);
  }

  function timing(r) { return typeof r.elapsed_ms === "number" ? " · " + r.elapsed_ms.toFixed(1) + "\u00a0ms" : ""; }

  // Other ways to read a number (another cut between its digits) that the server offers, at most two, and only
  // plausible ones: at least PLAUSIBLE times as likely as the answer (a sure "17" offers no "7").
  function otherReadings(r) {
    var list = Array.isArray(r.alternatives) ? r.alternatives : [];
    return list.map(function (a) {
      var text = Array.isArray(a) ? a[0] : a && a.text, p = Array.isArray(a) ? a[1] : a && a.confidence;
      return typeof p === "number" && p < PLAUSIBLE * (r.confidence || 0) ? "" : (typeof text === "string" ? text : "");
    }).filter(function (t, i, all) { return t && t !== r.text && all.indexOf(t) === i; }).slice(0, 2);
  }

  function showEmpty(title, detail) {
    var mode = MODES[state.mode];
    state.last = null;
    setAnswer("empty", "?", title || mode.prompt, detail || mode.help, 0);
    setBars(null, -1);
    $("bars").hidden = state.mode !== "digit"; $("chips").hidden = true; $("chips").textContent = "";
    $("topk").hidden = true; $("topk").textContent = "";
    $("stages").hidden = false;
    $("stages").classList.toggle("final-only", state.mode === "letter");
    setStage("stage-crop", null); setStage("stage-fit", null); setStage("stage-final", null);
    $("sees").classList.add("empty");
    drawOverlay();
  }

  function showError(title, detail) {
    state.last = null;
    setAnswer("error", "!", title, detail, 0);
    setBars(null, -1);
    $("chips").textContent = ""; $("topk").textContent = "";   // an earlier answer's characters are no answer
    drawOverlay();
    announce(title + ". " + detail);
  }

  function announce(text) {
    var live = $("live");
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 30);  // re-set so repeated answers are spoken again
  }

  // Boxes over the drawing: each character's box in the line modes, the ink box in digit mode.
  function drawOverlay() {
    var s = state.size, last = state.last;
    octx.setTransform(state.dpr, 0, 0, state.dpr, 0, 0);
    octx.clearRect(0, 0, s, s);
    if (!last || isBlank()) return;
    var m = last.map, c = colours();
    var toCanvas = function (box, srcW) {
      // Scale from the server's pixels to what we sent (the server may shrink huge images), then to the canvas.
      var k = srcW && m.w ? m.w / srcW : 1;
      return [box[0] * k, box[1] * k, box[2] * k, box[3] * k].map(function (v, i) {
        return ((i % 2 === 0 ? m.x : m.y) + v * m.s) * s;
      });
    };
    octx.lineWidth = 2;
    octx.strokeStyle = c.accent;
    octx.font = "700 " + Math.max(13, Math.round(s / 26)) + "px " + getComputedStyle(document.body).fontFamily;
    if (MODES[last.kind].line) {
      var items = last.data.digits || last.data.chars || [];
      items.forEach(function (item) {
        if (!item.box) return;
        var b = toCanvas(item.box, 0);
        var pad = 6;
        roundRect(octx, b[0] - pad, b[1] - pad, b[2] - b[0] + 2 * pad, b[3] - b[1] + 2 * pad, 8);
        octx.setLineDash([]);
        octx.stroke();
        var label = textOf(item);
        var tw = octx.measureText(label).width + 12, th = Math.max(20, s / 18);
        octx.fillStyle = c.accent;
        roundRect(octx, b[0] - pad, b[1] - pad - th - 4, tw, th, 6);
        octx.fill();
        octx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent-text").trim();
        octx.textBaseline = "middle";
        octx.fillText(label, b[0] - pad + 6, b[1] - pad - th / 2 - 4);
      });
    } else if (last.data.stages && last.data.stages.box) {
      var st = last.data.stages, b = toCanvas(st.box, st.size && st.size[0]);
      octx.globalAlpha = 0.55;
      octx.setLineDash([6, 6]);
      roundRect(octx, b[0] - 4, b[1] - 4, b[2] - b[0] + 8, b[3] - b[1] + 8, 6);
      octx.stroke();
      octx.globalAlpha = 1;
    }
  }

  function roundRect(c, x, y, w, h, r) {
    c.beginPath();
    if (c.roundRect) { c.roundRect(x, y, w, h, r); return; }
    c.rect(x, y, w, h);
  }

  // ---------------------------------------------------------------- controls

  function setMode(mode) {
    if (mode === state.mode || !MODES[mode]) return;
    state.mode = mode;
    var m = MODES[mode];
    M.ORDER.forEach(function (name) { $("mode-" + name).setAttribute("aria-pressed", String(name === mode)); });
    $("pad-title-text").textContent = m.title;
    $("hint-text").textContent = m.hint;
    $("charset-picker").hidden = !m.charsets;
    setBrush(state.brushes[mode] || m.brush);
    showModel();
    rememberMode();
    reread();
    announce(m.spoken);
  }

  // Text mode's picker: which characters it reads.
  function setCharset(name) {
    if (name === state.charset || !M.CHARSET_NAMES[name]) return;
    state.charset = name;
    $("charset").value = name;
    showModel();
    rememberMode();
    if (MODES[state.mode].charsets) reread();
  }

  // The answer on show belongs to the old mode (or charset): drop it and read the drawing again.
  function reread() {
    state.last = null;
    drawOverlay();
    if (isBlank()) showEmpty(); else requestRead(true);
  }

  // The mode (and Text's charset) in the address, so a link opens the page in it; no new history entry.
  function rememberMode() {
    var hash = M.toHash(state.mode, state.charset);
    if (hash === location.hash || (!hash && !location.hash)) return;
    try { history.replaceState(null, "", location.pathname + location.search + hash); } catch (e) { /* file: */ }
  }

  function modeFromAddress() {
    var wanted = M.fromHash(location.hash);
    if (wanted.charset) setCharset(wanted.charset);
    setMode(wanted.mode);
  }

  function setBrush(v) {
    state.brush = Math.max(8, Math.min(40, v));
    state.brushes[state.mode] = state.brush;
    $("brush").value = String(state.brush);
    var dot = Math.max(4, Math.round(state.brush * 22 / 40));
    $("brush-dot").style.setProperty("--dot", dot + "px");
  }

  function setTheme(theme) {
    document.documentElement.dataset.theme = theme;
    $("theme").setAttribute("aria-label", theme === "dark" ? "Use light theme" : "Use dark theme");
    paint();
    drawOverlay();
  }

  function loadModels() {
    fetch("/api/models").then(function (r) { return r.json(); }).then(function (info) {
      var select = $("model");
      var narrow = window.matchMedia && window.matchMedia("(max-width: 520px)").matches;
      var stored = null;
      try { stored = localStorage.getItem("inkdigit-model"); } catch (e) { /* ignore */ }
      select.textContent = "";
      (info.models || []).forEach(function (m) {
        var o = document.createElement("option");
        o.value = m.name;
        var acc = typeof m.test_accuracy === "number" ? (m.test_accuracy * (m.test_accuracy <= 1 ? 100 : 1)).toFixed(1) + "%" : "";
        // On a phone the picker shows just the name; the accuracy is in the footer line.
        o.textContent = acc && !narrow ? m.name + " · " + acc : m.name;
        o.title = (m.description || m.name) + (acc ? " (" + acc + " on MNIST test)" : "");
        select.appendChild(o);
      });
      var names = (info.models || []).map(function (m) { return m.name; });
      state.model = names.indexOf(stored) >= 0 ? stored : info.default;
      select.value = state.model;
      select.disabled = names.length < 2;
      state.models = info.models || [];
      showModel();
    }).catch(function () { /* the page still works with the server's default model */ });
  }

  // The server's character sets: which of them have a model here (Text's picker greys out the others).
  function loadCharsets() {
    fetch("/api/charsets").then(function (r) { return r.ok ? r.json() : {}; }).then(function (info) {
      (info.charsets || []).forEach(function (c) { state.charsets[c.name] = c; });
      Array.prototype.forEach.call($("charset").options, function (o) {
        var c = state.charsets[o.value], missing = Boolean(c) && !c.model;
        o.dataset.label = o.dataset.label || o.textContent;
        o.textContent = o.dataset.label + (missing ? " (not installed)" : "");
        o.disabled = missing;
      });
      showModel();
    }).catch(function () { /* an older server: the modes still ask, and show its answer */ });
  }

  // The top bar's picker and the footer name the model that reads: the digit model picked in the digit modes,
  // the character set's own model in the others (the picker only lists digit models, so it steps aside).
  function showModel() {
    var m = MODES[state.mode];
    $("model-picker").hidden = !m.digitModel || !(state.models || []).length;
    if (m.digitModel) { describeModel(); return; }
    var name = M.charsetOf(state.mode, state.charset), c = state.charsets[name], text = "";
    if (c && c.model) text = "Model “" + c.model + "”, " + c.description + ". ";
    else if (c) text = "No model for " + name + " is installed here. ";
    $("model-line").textContent = text + "Runs on this machine: your drawings go nowhere else.";
  }

  function describeModel() {
    var current = (state.models || []).filter(function (m) { return m.name === state.model; })[0];
    if (!current) { $("model-line").textContent = "Runs on this machine: your drawings go nowhere else."; return; }
    var acc = typeof current.test_accuracy === "number" ? ", " + (current.test_accuracy * 100).toFixed(2) + "% on the MNIST test set" : "";
    $("model-line").textContent = "Model “" + current.name + "”" + acc + ". Runs on this machine: your drawings go nowhere else.";
  }

  function onKey(e) {
    var tag = (e.target && e.target.tagName) || "";
    var typing = tag === "INPUT" && e.target.type !== "range" || tag === "TEXTAREA" || tag === "SELECT";
    var mod = e.ctrlKey || e.metaKey;
    if (mod && !e.altKey && (e.key === "z" || e.key === "Z")) {
      e.preventDefault();
      if (e.shiftKey) redo(); else undo();
    } else if (mod && (e.key === "y" || e.key === "Y")) {
      e.preventDefault(); redo();
    } else if (e.key === "Escape") {
      if (!isBlank()) { e.preventDefault(); clearAll(); }
    } else if (!mod && !e.altKey && e.target && e.target.parentNode === $("modes") && /^(Arrow(Left|Right)|Home|End)$/.test(e.key)) {
      e.preventDefault();
      stepMode(e.key);
    } else if (!mod && !e.altKey && !typing) {
      var key = e.key.toLowerCase();
      if (key === "n") setMode(state.mode === "number" ? "digit" : "number");  // N toggles, as it always did
      else if (M.KEYS[key]) setMode(M.KEYS[key]);
      else if (e.key === "[") setBrush(state.brush - 2);
      else if (e.key === "]") setBrush(state.brush + 2);
    }
  }

  // Arrow keys on the mode switcher move to the next mode (and its button), as in a tab list.
  function stepMode(key) {
    var i = M.ORDER.indexOf(state.mode), n = M.ORDER.length;
    var next = key === "Home" ? 0 : key === "End" ? n - 1 : (i + (key === "ArrowRight" ? 1 : n - 1)) % n;
    setMode(M.ORDER[next]);
    $("mode-" + M.ORDER[next]).focus();
  }

  function init() {
    buildBars();
    setBrush(20);
    setTheme(document.documentElement.dataset.theme === "dark" ? "dark" : "light");
    showEmpty();

    pad.addEventListener("pointerdown", onPointerDown);
    pad.addEventListener("pointermove", onPointerMove);
    pad.addEventListener("pointerup", onPointerUp);
    pad.addEventListener("pointercancel", onPointerUp);
    pad.addEventListener("lostpointercapture", onPointerUp);
    pad.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    // Belt and braces for older mobile browsers that ignore touch-action.
    pad.addEventListener("touchstart", function (e) { e.preventDefault(); }, { passive: false });
    pad.addEventListener("touchmove", function (e) { e.preventDefault(); }, { passive: false });

    $("undo").addEventListener("click", undo);
    $("clear").addEventListener("click", clearAll);
    $("brush").addEventListener("input", function (e) { setBrush(Number(e.target.value)); });
    M.ORDER.forEach(function (name) {
      $("mode-" + name).addEventListener("click", function () { setMode(name); });
    });
    $("charset").addEventListener("change", function (e) { setCharset(e.target.value); });
    window.addEventListener("hashchange", modeFromAddress);   // a link to another mode, followed on this page
    $("file").addEventListener("change", function (e) { openFile(e.target.files[0]); e.target.value = ""; });
    $("theme").addEventListener("click", function () {
      var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      try { localStorage.setItem("inkdigit-theme", next); } catch (err) { /* ignore */ }
      setTheme(next);
    });
    $("model").addEventListener("change", function (e) {
      state.model = e.target.value;
      try { localStorage.setItem("inkdigit-model", state.model); } catch (err) { /* ignore */ }
      showModel();
      if (!isBlank()) requestRead(true);
    });
    document.addEventListener("keydown", onKey);

    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      var follow = function () {
        var stored = null;
        try { stored = localStorage.getItem("inkdigit-theme"); } catch (err) { /* ignore */ }
        if (!stored) setTheme(mq.matches ? "dark" : "light");
      };
      if (mq.addEventListener) mq.addEventListener("change", follow);
    }

    // Drop an image anywhere on the page; paste one with Ctrl+V.
    var depth = 0;
    document.addEventListener("dragenter", function (e) { if (hasFiles(e)) { depth++; wrap.classList.add("dragging"); } });
    document.addEventListener("dragleave", function () { if (--depth <= 0) { depth = 0; wrap.classList.remove("dragging"); } });
    document.addEventListener("dragover", function (e) { if (hasFiles(e)) e.preventDefault(); });
    document.addEventListener("drop", function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0; wrap.classList.remove("dragging");
      openFile(e.dataTransfer.files[0]);
    });
    document.addEventListener("paste", function (e) {
      var items = (e.clipboardData && e.clipboardData.files) || [];
      if (items.length) { e.preventDefault(); openFile(items[0]); }
    });

    if (window.ResizeObserver) new ResizeObserver(resize).observe(wrap);
    else window.addEventListener("resize", resize);
    resize();
    modeFromAddress();
    loadModels();
    loadCharsets();
  }

  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") >= 0;
  }

  // A small hook for tests and the curious: the current answer and drawing, read-only.
  window.inkdigit = {
    get lastAnswer() { return state.last ? state.last.data : null; },
    get strokeCount() { return state.strokes.length; },
    get idle() { return !net.inFlight && !net.pending && state.opening === 0; },
    get mode() { return state.mode; },
    picture: function () { return snapshot(MODES[state.mode].side); },  // what the pen drew
  };

  init();
})();
