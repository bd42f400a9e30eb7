/**
 * `check` against the source model itself, when its file is at hand (a project path, or a
 * download already in the cache): every input and output the recipe names must be a tensor of
 * that graph. A typo here otherwise surfaces minutes later as a converter error.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Catalogue } from '../catalogue/catalogue.js';
import type { ValuePath } from './problems.js';
import { makeProblem, ProblemCode } from './problems.js';
import { nearest } from './suggest.js';
import type { Recipe, RecipeProblem, SourcePosition } from './types.js';

/** The source file of a recipe on this machine, if it is there: its project path, or the download cache entry by sha256. */
export async function localSourceFile(recipe: Recipe, projectRoot: string): Promise<string | undefined> {
  if (recipe.source.kind === 'pytorch') return undefined;
  const { location, sha256 } = recipe.source.file;
  const file =
    location.kind === 'path'
      ? path.join(projectRoot, location.path)
      : path.join(projectRoot, 'artifacts', 'downloads', 'sha256', sha256);
  return (await stat(file).catch(() => undefined))?.isFile() ? file : undefined;
}

interface GraphSummary {
  inputs?: Array<{ name?: unknown }>;
  outputs?: Array<{ name?: unknown }>;
}

/** Problems for recipe inputs and outputs that are not in the source graph; none when the file is not at hand or does not open. */
export async function checkSourceGraph(
  recipe: Recipe,
  projectRoot: string,
  locate: (at: ValuePath) => SourcePosition,
  catalogue: Catalogue,
): Promise<RecipeProblem[]> {
  const file = await localSourceFile(recipe, projectRoot);
  if (file === undefined) return [];
  let summary: GraphSummary;
  try {
    // Loaded on use: only a recipe whose source is at hand pays for the format readers.
    const { openModel } = await import('../formats/index.js');
    summary = (await openModel(file, catalogue.formats)).summary as GraphSummary;
  } catch {
    // A file that does not decode is the build's (and `inspect`'s) to report, with its reason.
    return [];
  }
  const names = (tensors: GraphSummary['inputs']) =>
    (tensors ?? []).map((t) => t.name).filter((name): name is string => typeof name === 'string');
  const graphInputs = names(summary.inputs);
  const graphOutputs = names(summary.outputs);
  const where =
    recipe.source.kind !== 'pytorch' && recipe.source.file.location.kind === 'path'
      ? recipe.source.file.location.path
      : 'the downloaded source model';
  const problems: RecipeProblem[] = [];
  const check = (kind: 'input' | 'output', list: readonly { name: string }[], graph: string[]) => {
    list.forEach((tensor, index) => {
      if (graph.length === 0 || graph.includes(tensor.name)) return;
      const suggestion = nearest(tensor.name, graph);
      problems.push(
        makeProblem(
          locate([`${kind}s`, index, 'name']),
          ProblemCode.notInGraph,
          `${kind}s[${index}].name: "${tensor.name}" is not an ${kind} of ${where}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; its ${kind}s: ${graph.join(', ')}`,
        ),
      );
    });
  };
  check('input', recipe.inputs, graphInputs);
  check('output', recipe.outputs, graphOutputs);
  return problems;
}
