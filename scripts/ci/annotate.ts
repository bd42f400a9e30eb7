/**
 * Turns edgezoo's `--json` output into GitHub workflow annotations. Reads stdin, which is either
 * `edgezoo check --json` (one JSON document) or `edgezoo build --json` (one event per line),
 * writes `::error file=…,line=…,col=…::message` lines for GitHub and passes a readable log through.
 *
 * usage: npx edgezoo check --json | npx tsx scripts/ci/annotate.ts
 * Exits 1 when the input reports a failure, so the workflow step fails even without pipefail.
 */
import { pathToFileURL } from 'node:url';

interface CheckProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}
interface CheckReport {
  recipes: Array<{ file: string; problems: CheckProblem[] }>;
  ok: boolean;
  recipeCount: number;
  problemCount: number;
}
interface BuildEvent {
  type: string;
  [key: string]: unknown;
}

/** GitHub's workflow-command escaping for a property value and for the message. */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function annotation(
  level: 'error' | 'warning' | 'notice',
  message: string,
  where?: { file: string; line?: number; col?: number; title?: string },
): string {
  const props: string[] = [];
  if (where?.file) props.push(`file=${escapeProperty(where.file)}`);
  if (where?.line) props.push(`line=${where.line}`);
  if (where?.col) props.push(`col=${where.col}`);
  if (where?.title) props.push(`title=${escapeProperty(where.title)}`);
  return `::${level}${props.length ? ` ${props.join(',')}` : ''}::${escapeData(message)}`;
}

/** The annotation lines and the verdict for one whole input. Pure, for the tests. */
export function annotate(input: string): { lines: string[]; ok: boolean } {
  const text = input.trim();
  if (!text) return { lines: [annotation('error', 'edgezoo printed nothing')], ok: false };
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    whole = undefined; // not one document: newline-delimited build events
  }
  if (whole && typeof whole === 'object' && Array.isArray((whole as Partial<CheckReport>).recipes))
    return annotateCheck(whole as CheckReport);
  if (whole && typeof whole === 'object') return annotateBuild([whole as BuildEvent]);
  return annotateBuild(
    text
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as BuildEvent),
  );
}

function annotateCheck(report: CheckReport): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  for (const recipe of report.recipes) {
    for (const p of recipe.problems)
      lines.push(annotation('error', p.message, { file: p.file, line: p.line, col: p.col, title: 'edgezoo check' }));
  }
  lines.push(
    report.ok ? `${report.recipeCount} recipes ok` : `${report.problemCount} problems in ${report.recipeCount} recipes`,
  );
  return { lines, ok: report.ok };
}

function annotateBuild(events: BuildEvent[]): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  let ok = true;
  let sawSummary = false;
  for (const event of events) {
    const model = String(event['model'] ?? '');
    const recipe = model ? `recipes/${model}.yaml` : undefined;
    switch (event.type) {
      case 'step-failed':
        // A step blocked by another failure repeats it: annotate only the root cause.
        if (!event['blockedBy']) {
          const log = event['logFile'] ? ` (log: ${String(event['logFile'])})` : '';
          lines.push(
            annotation(
              'error',
              `${String(event['step'])}: ${String(event['reason'])}${log}`,
              recipe ? { file: recipe, title: 'edgezoo build' } : undefined,
            ),
          );
        }
        break;
      case 'step-skipped':
        lines.push(
          annotation(
            'notice',
            `${model} ${String(event['target'])} skipped: ${String(event['reason'])}`,
            recipe ? { file: recipe } : undefined,
          ),
        );
        break;
      case 'warning':
        lines.push(annotation('warning', String(event['message'])));
        break;
      case 'summary': {
        sawSummary = true;
        ok = event['ok'] === true;
        const models =
          (event['models'] as
            | Array<{ model: string; run: number; cached: number; failed: number; skipped: number }>
            | undefined) ?? [];
        for (const m of models)
          lines.push(`${m.model}: ${m.run} run, ${m.cached} cached, ${m.failed} failed, ${m.skipped} skipped`);
        break;
      }
    }
  }
  if (!sawSummary) {
    lines.push(annotation('error', 'the build ended without a summary (it crashed or was interrupted)'));
    ok = false;
  }
  return { lines, ok };
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  let result: { lines: string[]; ok: boolean };
  try {
    result = annotate(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    result = {
      lines: [annotation('error', `could not read edgezoo's JSON output: ${(error as Error).message}`)],
      ok: false,
    };
  }
  process.stdout.write(`${result.lines.join('\n')}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
