// Renders /openapi.json as a readable page with a small "try it" form per endpoint. Works offline.
(function () {
  "use strict";

  var spec = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "html") node.innerHTML = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }

  // Just enough Markdown for our descriptions: paragraphs, bullet lists, `code`, **bold**.
  function markdown(text) {
    var inline = function (s) {
      return escapeHtml(s).replace(/`([^`]+)`/g, "<code>$1</code>").replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    };
    var out = [], list = null, para = [];
    var flush = function () {
      if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; }
      if (list) { out.push("<ul>" + list.map(function (i) { return "<li>" + inline(i) + "</li>"; }).join("") + "</ul>"); list = null; }
    };
    (text || "").split("\n").forEach(function (line) {
      var t = line.trim();
      if (!t) { flush(); return; }
      if (/^[*-] /.test(t)) { if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; } (list = list || []).push(t.slice(2)); return; }
      if (list && /^\s+/.test(line)) { list[list.length - 1] += " " + t; return; }
      if (list) flush();
      para.push(t);
    });
    flush();
    return out.join("");
  }

  function resolve(schema) {
    var guard = 0;
    while (schema && schema.$ref && guard++ < 10) {
      var name = schema.$ref.split("/").pop();
      schema = spec.components.schemas[name];
    }
    return schema || {};
  }

  function typeName(schema) {
    if (!schema) return "";
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.anyOf) return schema.anyOf.map(typeName).filter(function (t) { return t !== "null"; }).join(" | ") +
      (schema.anyOf.some(function (s) { return s.type === "null"; }) ? " (optional)" : "");
    if (schema.type === "array") return typeName(schema.items || {}) + "[]";
    if (schema.format === "binary") return "file";
    return schema.type || "any";
  }

  function constraints(schema) {
    var parts = [];
    if (schema.minimum !== undefined) parts.push("≥ " + schema.minimum);
    if (schema.maximum !== undefined) parts.push("≤ " + schema.maximum);
    if (schema.maxLength !== undefined) parts.push("max length " + schema.maxLength);
    return parts.join(", ");
  }

  function propsTable(schema) {
    schema = resolve(schema);
    var props = schema.properties || {};
    var required = schema.required || [];
    var rows = Object.keys(props).map(function (name) {
      var p = props[name];
      return el("tr", {}, [
        el("td", { class: "name", text: name + (required.indexOf(name) >= 0 ? "" : "?") }),
        el("td", {}, [el("span", { class: "type", text: typeName(p) })]),
        el("td", { html: markdown(p.description || resolve(p).description || "") }),
      ]);
    });
    if (!rows.length) return null;
    return el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", { text: "Field" }), el("th", { text: "Type" }), el("th", { text: "Meaning" })])]),
      el("tbody", {}, rows)]);
  }

  function renderOperation(path, method, op) {
    var body = el("div", { class: "body" });
    body.appendChild(el("div", { class: "prose", html: markdown(op.description || "") }));

    var params = op.parameters || [];
    if (params.length) {
      body.appendChild(el("h3", { text: "Query parameters" }));
      body.appendChild(el("table", {}, [
        el("thead", {}, [el("tr", {}, ["Name", "Type", "Default", "Meaning"].map(function (h) { return el("th", { text: h }); }))]),
        el("tbody", {}, params.map(function (p) {
          var s = p.schema || {};
          var c = constraints(s);
          return el("tr", {}, [
            el("td", { class: "name", text: p.name }),
            el("td", {}, [el("span", { class: "type", text: typeName(s) + (c ? " (" + c + ")" : "") })]),
            el("td", { text: s.default === undefined || s.default === null ? "—" : String(s.default) }),
            el("td", { html: markdown(p.description || "") }),
          ]);
        })),
      ]));
    }

    if (op.requestBody) {
      body.appendChild(el("h3", { text: "Request body" }));
      body.appendChild(el("div", { class: "prose", html: markdown(op.requestBody.description || "") }));
      var content = op.requestBody.content || {};
      body.appendChild(el("p", {}, ["Content types: "].concat(Object.keys(content).map(function (t, i) {
        return el("span", {}, [i ? ", " : "", el("code", { text: t })]);
      }))));
      var json = content["application/json"];
      if (json) jsonBodies(json).forEach(function (node) { body.appendChild(node); });
    }

    var responses = op.responses || {};
    body.appendChild(el("h3", { text: "Responses" }));
    Object.keys(responses).forEach(function (status) {
      var r = responses[status];
      var schema = r.content && r.content["application/json"] && r.content["application/json"].schema;
      body.appendChild(el("p", {}, [el("span", { class: "status", text: status }), " ", r.description || "",
        schema ? el("span", { class: "muted", text: " → " + typeName(schema) }) : null]));
      if (status === "200" && schema) {
        var t = propsTable(schema);
        if (t) body.appendChild(t);
      }
    });

    body.appendChild(tryIt(path, method, op));

    return el("details", { class: "card op", id: (method + path).replace(/[^a-z0-9]+/gi, "-") }, [
      el("summary", {}, [
        el("span", { class: "method " + method, text: method.toUpperCase() }),
        el("span", { class: "path", text: path }),
        el("span", { class: "summary", text: op.summary || "" }),
      ]),
      body,
    ]);
  }

  // The JSON bodies an endpoint takes (each with its fields) and their examples.
  function jsonBodies(json) {
    var nodes = [];
    var kinds = json.schema && json.schema.oneOf ? json.schema.oneOf : (json.schema ? [json.schema] : []);
    kinds.forEach(function (kind) {
      kind = resolve(kind);
      nodes.push(el("p", {}, [el("code", { text: "application/json" }), " — " + (kind.description || kind.title || "")]));
      var t = propsTable(kind);
      if (t) nodes.push(t);
    });
    Object.keys(json.examples || {}).forEach(function (name) {
      var ex = json.examples[name];
      nodes.push(el("p", { class: "muted", text: "Example: " + (ex.summary || name) }));
      nodes.push(el("pre", {}, [el("code", { text: JSON.stringify(ex.value) })]));
    });
    return nodes;
  }

  function tryIt(path, method, op) {
    var box = el("form", { class: "try" });
    box.appendChild(el("strong", { text: "Try it" }));
    var row = el("div", { class: "row" });
    var inputs = {};
    (op.parameters || []).forEach(function (p) {
      var s = p.schema || {};
      var input;
      if (s.type === "boolean") {
        input = el("select", {}, [el("option", { value: "", text: "—" }), el("option", { value: "true", text: "true" }), el("option", { value: "false", text: "false" })]);
      } else {
        input = el("input", { type: s.type === "integer" ? "number" : "text", placeholder: s.default !== undefined && s.default !== null ? String(s.default) : "" });
      }
      inputs[p.name] = input;
      row.appendChild(el("label", {}, [p.name, input]));
    });
    var file = null;
    if (op.requestBody) {
      var multi = /batch/.test(path);
      file = el("input", { type: "file", accept: "image/*" });
      if (multi) file.multiple = true;
      row.appendChild(el("label", {}, [multi ? "image files" : "image file", file]));
    }
    row.appendChild(el("button", { class: "btn", type: "submit", text: "Send" }));
    box.appendChild(row);
    var out = el("pre", { hidden: "" }, [el("code")]);
    box.appendChild(out);
    box.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = Object.keys(inputs).filter(function (k) { return inputs[k].value !== ""; })
        .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(inputs[k].value); }).join("&");
      var init = { method: method.toUpperCase() };
      if (file) {
        var form = new FormData();
        Array.prototype.forEach.call(file.files, function (f) { form.append(/batch/.test(path) ? "files" : "file", f); });
        init.body = form;
      }
      out.hidden = false;
      out.firstChild.textContent = "…";
      fetch(path + (q ? "?" + q : ""), init).then(function (res) {
        return res.text().then(function (text) {
          var shown = text;
          try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (err) { /* not JSON */ }
          if (shown.length > 6000) shown = shown.slice(0, 6000) + "\n…";
          out.firstChild.textContent = "HTTP " + res.status + "\n" + shown;
        });
      }).catch(function (err) { out.firstChild.textContent = "Request failed: " + err; });
    });
    return box;
  }

  function render() {
    var main = document.getElementById("doc");
    main.textContent = "";
    main.appendChild(el("h1", { text: spec.info.title + " HTTP API" }));
    main.appendChild(el("p", { class: "muted", text: "Version " + spec.info.version + (spec.info.summary ? " · " + spec.info.summary : "") }));
    main.appendChild(el("div", { class: "card prose", html: markdown(spec.info.description || "") }));
    var tags = (spec.tags || []).map(function (t) { return t.name; });
    var ops = [];
    Object.keys(spec.paths).forEach(function (path) {
      Object.keys(spec.paths[path]).forEach(function (method) {
        ops.push({ path: path, method: method, op: spec.paths[path][method] });
      });
    });
    tags.concat(["other"]).forEach(function (tag) {
      var group = ops.filter(function (o) { return ((o.op.tags || ["other"])[0]) === tag; });
      if (!group.length) return;
      var info = (spec.tags || []).filter(function (t) { return t.name === tag; })[0];
      main.appendChild(el("h2", {}, [tag.charAt(0).toUpperCase() + tag.slice(1), info ? el("span", { class: "muted", text: " — " + info.description }) : null]));
      group.forEach(function (o) { main.appendChild(renderOperation(o.path, o.method, o.op)); });
    });
    main.appendChild(el("h2", { text: "Answer shapes" }));
    Object.keys(spec.components.schemas).forEach(function (name) {
      if (/^(HTTPValidationError|ValidationError)$/.test(name)) return;
      var s = spec.components.schemas[name];
      var t = propsTable(s);
      if (!t) return;
      main.appendChild(el("details", { class: "card op" }, [
        el("summary", {}, [el("span", { class: "path", text: name }), el("span", { class: "summary", text: s.description || "" })]),
        el("div", { class: "body" }, [t]),
      ]));
    });
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) { target.open = true; target.scrollIntoView(); }
    }
  }

  fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (s) { spec = s; render(); })
    .catch(function (err) {
      document.getElementById("doc").textContent = "Could not load /openapi.json: " + err;
    });
})();
