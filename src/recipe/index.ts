/**
 * The recipe language: the YAML schema, safe loading with positions, the rules, and the
 * normalised Recipe every other module works on.
 */
export * from './types.js';
export {
  loadRecipe,
  requireRecipe,
  checkRecipes,
  discoverRecipes,
  parseRecipeText,
  decodeRecipeBytes,
  projectLabel,
  RecipeInvalidError,
  isEdgezooRecipeError,
  type RecipeLoadResult,
  type ParsedRecipe,
} from './load.js';
export {
  RecipeYamlSchema,
  recipeYamlSchema,
  recipeJsonSchema,
  renderRecipeJsonSchema,
  ALL_PRECISIONS,
  type RecipeYaml,
} from './schema.js';
export { formatProblem, ProblemCode, type ProblemCodeValue } from './problems.js';
export { checkSpdxExpression, SPDX_LICENSE_IDS } from './spdx.js';
export { checkProjectPath } from './project-path.js';
export { checkPathsStayInProject, type PathReference } from './fs-rules.js';
export { YAML_LIMITS } from './yaml-document.js';
export { generateRecipeReference } from './reference.js';
export { targetKeys } from './rules.js';
