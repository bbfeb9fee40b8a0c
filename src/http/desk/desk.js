// copydesk's review page: wire copy in, the article side by side out (source left, English
// right, sentence by sentence), flagged sentences first. Plain DOM, no libraries, no network
// but this server. The API key is kept in sessionStorage only.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "copydesk-api-key";
const state = { input: null, article: null };

function headers(accept) {
  const h = { "Content-Type": "application/json", Accept: accept || "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// POSTs `body` to /v1/articles; rejects with the API's own message.
async function articles(body, accept) {
  let res;
  try {
    res = await fetch("/v1/articles", { method: "POST", headers: headers(accept), body: JSON.stringify(body) });
  } catch (e) {
    throw new Error("Cannot reach the server: " + e.message);
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* not JSON: reported below */ }
  if (!res.ok) {
    const err = json && json.error;
    throw new Error(err ? `${err.message} (${err.code}, HTTP ${res.status})` : `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (json === null) throw new Error("The server answered something that is not JSON.");
  return json;
}

// Text, or a ninjs item when the input is a JSON object with a `uri`.
function readInput(raw) {
  const t = raw.trim();
  if (t.startsWith("{")) {
    try {
      const item = JSON.parse(t);
      if (item && typeof item === "object" && item.uri) return { ninjs: item };
    } catch (_) { /* wire copy that starts with a brace */ }
  }
  return { text: raw };
}

function progress(on) {
  $("run").disabled = on;
  $("progress").hidden = !on;
  clearInterval(progress.timer);
  if (!on) return;
  const start = Date.now();
  const tick = () => { $("progress-text").textContent = `Working… ${Math.round((Date.now() - start) / 1000)} s`; };
  tick();
  progress.timer = setInterval(tick, 500);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function run() {
  const raw = $("source").value;
  if (!raw.trim()) return showError("Paste some wire copy first.");
  showError("");
  progress(true);
  try {
    const input = readInput(raw);
    const body = { articles: [input], summarize: $("summarize").checked };
    const glossary = $("glossary").value.trim();
    if (glossary) body.glossary = glossary;
    const res = await articles(body);
    state.input = input;
    state.article = res.articles[0];
    render(state.article);
  } catch (e) {
    showError(e.message);
  } finally {
    progress(false);
  }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const datelineText = (d, english) => d ? `${english ? d.place_en : d.place} (${d.agency}) -` : "";

// `text` as nodes, each (case-insensitive) occurrence of a string of `needles` in a <mark>.
function marked(text, needles, cls) {
  const frag = document.createDocumentFragment();
  const lower = text.toLowerCase();
  const wanted = needles.filter((n) => n).map((n) => n.toLowerCase());
  let at = 0;
  while (at < text.length) {
    let next = -1, len = 0;
    for (const n of wanted) {
      const i = lower.indexOf(n, at);
      if (i >= 0 && (next < 0 || i < next || (i === next && n.length > len))) { next = i; len = n.length; }
    }
    if (next < 0) break;
    if (next > at) frag.appendChild(document.createTextNode(text.slice(at, next)));
    frag.appendChild(el("mark", cls, text.slice(next, next + len)));
    at = next + len;
  }
  if (at < text.length) frag.appendChild(document.createTextNode(text.slice(at)));
  return frag;
}

// The glossary terms a sentence found: `source → target`, missing ones marked.
function termsLine(terms) {
  const div = el("div", "terms", "Glossary: ");
  terms.forEach((t, i) => {
    if (i) div.appendChild(document.createTextNode(", "));
    const span = el("span", t.applied ? "term-hit" : "term-hit missing", `${t.source} → ${t.target}`);
    if (!t.applied) span.title = "not in the translation";
    div.appendChild(span);
  });
  return div;
}

// One row: `src` left; on the right the editable English `obj[key]` (then `after`, fixed).
// Glossary terms are marked on both sides.
function row(rows, { id, cls, src, obj, key, sentence, after }) {
  const tr = el("tr", cls);
  if (id) tr.id = "row-" + id;
  const terms = (sentence && sentence.glossary) || [];
  const srcCell = el("td", "src");
  srcCell.appendChild(marked(src || "", terms.map((t) => t.source), "term"));
  tr.appendChild(srcCell);
  const td = el("td", "en");
  const text = el("div", "text");
  text.appendChild(marked(obj[key] || "", terms.filter((t) => t.applied).map((t) => t.target), "term"));
  text.contentEditable = "true";
  text.addEventListener("input", () => { obj[key] = text.innerText; text.classList.add("edited"); });
  td.appendChild(text);
  if (after) td.appendChild(el("span", "after", after));
  if (sentence) {
    if (sentence.handling && sentence.handling !== "translated") {
      tr.classList.add(sentence.handling);
      const why = sentence.handling === "copied" ? "already English: copied" : (sentence.error ? sentence.error.message : "not translated");
      td.appendChild(el("div", "meta", why));
    }
    if (sentence.checks && sentence.checks.length) {
      tr.classList.add("flagged");
      const ul = el("ul", "flags");
      for (const c of sentence.checks) ul.appendChild(el("li", "flag", `${c.message} [${c.code}]`));
      td.appendChild(ul);
    }
    if (terms.length) td.appendChild(termsLine(terms));
  }
  tr.appendChild(td);
  rows.appendChild(tr);
}

function render(a) {
  const rows = $("rows");
  rows.replaceChildren();
  $("src-lang").textContent = a.language ? `Source (${a.language.code})` : "Source";
  if (a.headline) row(rows, { id: "headline", cls: "headline", src: a.headline, obj: a, key: "headline_en" });
  const agency = (d) => ` (${d.agency}) -`;
  if (a.dateline) row(rows, { cls: "dateline", src: datelineText(a.dateline, false), obj: a.dateline, key: "place_en", after: agency(a.dateline) });
  a.blocks.forEach((b, i) => b.sentences.forEach((s, j) => row(rows, {
    id: `blocks[${i}].sentences[${j}]`, cls: (b.kind === "subheading" ? "subheading" : "paragraph") + (j === 0 ? " para-start" : ""),
    src: s.source, obj: s, key: "text", sentence: s,
  })));
  if (a.related_title) row(rows, { cls: "related-title para-start", src: a.related_title, obj: a, key: "related_title_en" });
  a.related.forEach((r, i) => {
    if (r.dateline) row(rows, { cls: "related dateline para-start", src: datelineText(r.dateline, false), obj: r.dateline, key: "place_en", after: agency(r.dateline) });
    r.sentences.forEach((s, j) => row(rows, {
      id: `related[${i}].sentences[${j}]`, cls: "related" + (j === 0 && !r.dateline ? " para-start" : ""),
      src: s.source, obj: s, key: "text", sentence: s,
    }));
    if (r.age) row(rows, { cls: "related age", src: r.age, obj: r, key: "age_en" });
  });
  $("summary").hidden = !a.summary;
  $("summary-text").textContent = a.summary || "";
  const review = a.review || [];
  $("review").hidden = review.length === 0;
  $("review-title").textContent = `${review.length} sentence${review.length === 1 ? "" : "s"} to review`;
  const list = $("review-list");
  list.replaceChildren();
  for (const r of review) {
    const li = el("li");
    const link = el("a", "", r.source);
    link.href = "#row-" + r.at;
    li.appendChild(link);
    li.appendChild(el("span", "meta", " — " + r.checks.map((c) => c.code).join(", ")));
    list.appendChild(li);
  }
  $("result").hidden = false;
}

// The English body as parts: paragraphs (dateline first), subheadings.
function bodyParts(a) {
  return a.blocks.map((b, i) => {
    const text = b.sentences.map((s) => s.text).join(" ");
    const lead = i === 0 && a.dateline ? datelineText(a.dateline, true) + " " : "";
    return { kind: b.kind, text: lead + text };
  });
}

function relatedLines(a, md) {
  return a.related.map((r) => {
    const d = r.dateline ? datelineText(r.dateline, true) + " " : "";
    const age = r.age_en ? (md ? ` _(${r.age_en})_` : ` (${r.age_en})`) : "";
    const body = r.sentences.map((s) => s.text).join(" ");
    return md ? `- ${d ? "**" + d.slice(0, -2) + "** - " : ""}${body}${age}` : `${d}${body}${age}`;
  });
}

function toText(a) {
  const out = [];
  if (a.headline_en) out.push(a.headline_en);
  for (const p of bodyParts(a)) out.push(p.text);
  if (a.related.length) out.push([a.related_title_en || "", ...relatedLines(a, false)].filter(Boolean).join("\n"));
  return out.join("\n\n") + "\n";
}

function toMarkdown(a) {
  const out = [];
  if (a.headline_en) out.push("# " + a.headline_en);
  if (a.summary) out.push("> " + a.summary);
  for (const p of bodyParts(a)) out.push(p.kind === "subheading" ? "## " + p.text : p.text);
  if (a.related_title_en) out.push("### " + a.related_title_en);
  if (a.related.length) out.push(relatedLines(a, true).join("\n"));
  return out.join("\n\n") + "\n";
}

const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// The server's English ninjs item for the input (its envelope: uri, version, located, links),
// with the headline and bodies replaced by the edited English.
async function ninjs() {
  const a = state.article;
  const item = await articles({ articles: [state.input], summarize: Boolean(a.summary) }, "application/ninjs+json");
  const one = Array.isArray(item) ? item[0] : item;
  const parts = bodyParts(a);
  const plain = parts.map((p) => p.text).join("\n\n");
  const html = parts.map((p) => p.kind === "subheading" ? `<h2>${escapeHtml(p.text)}</h2>` : `<p>${escapeHtml(p.text)}</p>`).join("");
  if ("headline" in one) one.headline = a.headline_en;
  if (Array.isArray(one.headlines) && one.headlines[0]) one.headlines[0].value = a.headline_en;
  if ("body_text" in one) one.body_text = plain;
  if ("body_html" in one) one.body_html = html;
  for (const b of one.bodies || []) b.value = b.role === "main" ? plain : html;
  return one;
}

function download() {
  progress(true);
  ninjs().then((item) => {
    const blob = new Blob([JSON.stringify(item, null, 2)], { type: "application/json" });
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = "article-en.ninjs.json";
    a.click();
    URL.revokeObjectURL(a.href);
  }).catch((e) => showError(e.message)).finally(() => progress(false));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const t = el("textarea");
    t.value = text;
    document.body.appendChild(t);
    t.select();
    document.execCommand("copy");
    t.remove();
  }
  $("copied").textContent = "Copied.";
  setTimeout(() => { $("copied").textContent = ""; }, 2000);
}

function setup() {
  const key = $("key");
  key.value = sessionStorage.getItem(KEY) || "";
  key.addEventListener("change", () => sessionStorage.setItem(KEY, key.value.trim()));
  $("run").addEventListener("click", run);
  $("copy-text").addEventListener("click", () => copy(toText(state.article)));
  $("copy-md").addEventListener("click", () => copy(toMarkdown(state.article)));
  $("download-ninjs").addEventListener("click", download);
  const src = $("source");
  src.addEventListener("dragover", (e) => { e.preventDefault(); src.classList.add("dragging"); });
  src.addEventListener("dragleave", () => src.classList.remove("dragging"));
  src.addEventListener("drop", (e) => {
    e.preventDefault();
    src.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) file.text().then((t) => { src.value = t; });
  });
}

// For scripts and tests: the current article's English as text, Markdown and ninjs.
window.desk = { text: () => toText(state.article), markdown: () => toMarkdown(state.article), ninjs };
setup();
