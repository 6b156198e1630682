// inkdigit page: the five reading modes as data: their words, the route each asks, the canvas it sends, the
// link that opens it. No DOM work here; app.js draws, sends and shows. Plain JS, no build step.
(function () {
  "use strict";

  var REF = 280;    // the canvas a single character is sent at (brush sizes are in its pixels)
  var LINE = 560;   // a line of characters is sent larger, so small characters keep their detail

  // `line`: a row of characters, read one by one with a box each (the answer lists them as chips).
  // `digitModel`: reads with the model picked in the top bar; the other modes read with their charset's model.
  var MODES = {
    digit: {
      name: "Digit", title: "Draw a digit", hint: "Draw a digit here", prompt: "Draw something",
      help: "The answer appears while you draw.", spoken: "Digit mode.",
      path: "/api/predict", side: REF, brush: 20, line: false, digitModel: true,
    },
    number: {
      name: "Number", title: "Write a number", hint: "Write digits side by side", prompt: "Write a number",
      help: "Write digits side by side; each gets a box.", spoken: "Number mode: write several digits side by side.",
      path: "/api/predict/number", side: LINE, brush: 12, line: true, digitModel: true, item: "digit",
    },
    letter: {
      name: "Letter", title: "Draw a letter", hint: "Draw a letter here", prompt: "Draw a letter",
      help: "A to Z; upper and lower case read as one.", spoken: "Letter mode: draw one letter.",
      path: "/api/predict/char", charset: "letters", side: REF, brush: 20, line: false, top: 5,
    },
    text: {
      name: "Text", title: "Write a word", hint: "Write letters side by side", prompt: "Write a word",
      help: "Write characters side by side; each gets a box.", spoken: "Text mode: write a word.",
      path: "/api/predict/text", side: LINE, brush: 12, line: true, item: "character",
      charsets: ["alnum", "letters", "digits"],
    },
    math: {
      name: "Math", title: "Write a sum", hint: "Write a sum, like 12+7=", prompt: "Write a sum",
      help: "Digits and + − × ÷ = ( ) . side by side; the result appears below.",
      spoken: "Math mode: write a sum such as 12 plus 7 equals.",
      path: "/api/predict/math", side: LINE, brush: 12, line: true, item: "symbol",
    },
  };
  var ORDER = ["digit", "number", "letter", "text", "math"];
  var KEYS = { d: "digit", n: "number", l: "letter", t: "text", m: "math" };
  var CHARSET_NAMES = { alnum: "letters and digits", letters: "letters", digits: "digits" };

  // The request for a reading in `mode`: the digit modes exactly as before the other modes existed.
  function endpoint(mode, opts) {
    var m = MODES[mode];
    var q = "?preview=true&top_k=" + (m.top || 3);
    if (m.digitModel && opts.model) q += "&model=" + encodeURIComponent(opts.model);
    var charset = charsetOf(mode, opts.charset);
    if (charset && mode !== "math") q += "&charset=" + encodeURIComponent(charset);
    return m.path + q;
  }

  // The character set a mode reads: fixed for Letter, the picker's for Text (alnum unless it names another).
  function charsetOf(mode, picked) {
    var m = MODES[mode];
    if (m.charset) return m.charset;
    if (m.charsets) return m.charsets.indexOf(picked) >= 0 ? picked : m.charsets[0];
    return mode === "math" ? "math" : null;
  }

  // "#mode=text&charset=letters" → {mode: "text", charset: "letters"}; anything unknown → the digit mode.
  function fromHash(hash) {
    var out = { mode: "digit", charset: null };
    String(hash || "").replace(/^#/, "").split("&").forEach(function (part) {
      var kv = part.split("="), key = decodeURIComponent(kv[0] || ""), value = decodeURIComponent(kv[1] || "");
      if (key === "mode" && MODES[value]) out.mode = value;
      if (key === "charset" && CHARSET_NAMES[value]) out.charset = value;
    });
    return out;
  }

  // The link of a mode: the digit mode is the page's plain address; Text names a charset other than alnum.
  function toHash(mode, charset) {
    if (mode === "digit") return "";
    var h = "#mode=" + mode;
    var picked = charsetOf(mode, charset);
    if (mode === "text" && picked !== MODES.text.charsets[0]) h += "&charset=" + picked;
    return h;
  }

  // The line under a math answer: the evaluator's result ("12+7 = 19") or what is wrong with what was read.
  function mathLine(r) {
    if (typeof r.message === "string" && r.message) return r.message;
    if (r.ok && r.value !== null && r.value !== undefined) return (r.expression || r.text || "") + " = " + r.value;
    return "";
  }

  window.inkdigitModes = {
    MODES: MODES, ORDER: ORDER, KEYS: KEYS, CHARSET_NAMES: CHARSET_NAMES, REF: REF, LINE: LINE,
    endpoint: endpoint, charsetOf: charsetOf, fromHash: fromHash, toHash: toHash, mathLine: mathLine,
  };
})();
