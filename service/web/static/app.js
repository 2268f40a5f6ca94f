// The page's only script: submit through the JSON API, long-poll the job, show the picture and the nodes.
"use strict";

const $ = (id) => document.getElementById(id);
const keyInput = $("key");
keyInput.value = sessionStorage.getItem("gategraph-key") || "";

function headers() {
  sessionStorage.setItem("gategraph-key", keyInput.value.trim());
  return { "Authorization": "Bearer " + keyInput.value.trim(), "Content-Type": "application/json" };
}

// What a person at this form can do about a refused key (the API's own text speaks of headers).
const KEY_REFUSED = "The API key was not accepted. Paste the key that `gategraph serve` printed " +
  "(it is also kept in GATEGRAPH_HOME/local-key), or create one with `gategraph keys create NAME`.";

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers() });
  const body = response.headers.get("Content-Type")?.includes("json") ? await response.json() : await response.text();
  if (response.status === 401) throw { detail: KEY_REFUSED };
  if (!response.ok) throw body;
  return body;
}

function problemLines(problem) {
  if (!problem || !problem.detail) return [String(problem)];
  // a validation answer's detail repeats its first error: list the errors alone, each once
  const errors = (problem.errors || []).map((e) => (e.path ? `${e.path}: ${e.message}` : e.message));
  return errors.length ? errors : [problem.detail];
}

function showProblems(problem) {
  const list = $("problems");
  list.replaceChildren();
  const lines = problemLines(problem);
  for (const line of lines) {
    const item = document.createElement("li");
    item.textContent = line;
    list.append(item);
  }
  list.hidden = false;
}

function parse(id, what) {
  try { return JSON.parse($(id).value); } catch (error) { throw { detail: `${what} is not JSON: ${error.message}` }; }
}

$("graph-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) $("graph").value = await file.text();
});

$("submit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("problems").hidden = true;
  for (const id of ["status", "picture", "nodes"]) $(id).hidden = true;
  try {
    const body = { graph: parse("graph", "The graph definition"), inputs: parse("inputs", "The inputs") };
    if ($("check-gradients").checked) body.check_gradients = true;
    let job = await api("/v1/jobs", { method: "POST", body: JSON.stringify(body) });
    showJob(job);
    while (!["succeeded", "failed", "canceled"].includes(job.status)) {
      job = await api(`/v1/jobs/${job.id}?wait=10`);
      showJob(job);
    }
    if (job.status === "succeeded") await showResults(job);
  } catch (problem) {
    showProblems(problem);
  }
});

function showJob(job) {
  $("status").hidden = false;
  $("job-id").textContent = job.id;
  $("job-status").textContent = job.status;
  $("job-stage").textContent = job.stage ? `(${job.stage})` : "";
  $("job-outputs").textContent = job.outputs ? "Outputs: " + JSON.stringify(job.outputs) : "";
  $("job-check").textContent = job.gradient_check ? "Gradient check: " + JSON.stringify(job.gradient_check) : "";
  if (job.error) showProblems({ detail: `${job.error.code}: ${job.error.message}` });
}

async function showResults(job) {
  const rows = [];
  let cursor = null;
  do {
    const page = await api(`/v1/jobs/${job.id}/nodes?limit=1000` + (cursor ? `&cursor=${cursor}` : ""));
    rows.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && rows.length < 10000);
  fillTable(rows);
  try {
    $("diagram").innerHTML = await api(`/v1/jobs/${job.id}/diagram.svg`);
    $("picture").hidden = false;
  } catch (problem) {
    $("diagram").textContent = problem.detail || "no picture";
    $("picture").hidden = false;
  }
}

let tableRows = [];

function fillTable(rows) {
  tableRows = rows;
  renderTable();
  $("nodes").hidden = false;
}

function renderTable() {
  const body = $("node-table").tBodies[0];
  body.replaceChildren(...tableRows.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.id = row.id;
    for (const key of ["id", "kind", "op", "value", "grad"]) {
      const td = document.createElement("td");
      const cell = row[key] ?? "";
      td.textContent = Array.isArray(cell) ? cell.join(", ") : String(cell);
      tr.append(td);
    }
    return tr;
  }));
}

function sortKey(value) {
  const first = Array.isArray(value) ? value[0] : value;
  const number = Number(first);
  return Number.isNaN(number) && first !== "NaN" ? String(first ?? "") : number;
}

for (const th of document.querySelectorAll("#node-table th")) {
  th.addEventListener("click", () => {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    for (const other of document.querySelectorAll("#node-table th")) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const key = th.dataset.key;
    tableRows.sort((a, b) => {
      const x = sortKey(a[key]), y = sortKey(b[key]);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    renderTable();
  });
}
