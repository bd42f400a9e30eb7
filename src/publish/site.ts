/**
 * The static site of a published folder: `index.html` lists the models with search and filters
 * by task, format and precision; each model has a page (`<model>/index.html`, its newest
 * version) and each version one (`<model>/<version>/index.html`), both the model card rendered to
 * HTML. Plain files with relative links, one small inline script for the filters and no other
 * resource, so any static file server (or a file: URL) shows it. Links go only to files the
 * folder has.
 */
import MarkdownIt from 'markdown-it';
import semver from 'semver';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import type { IndexModel, IndexVersion, ZooIndex } from '../zoo/index.js';

export interface SiteOptions {
  title?: string;
  /** The folder has index.json.sig (a signed publish): link it. */
  signed: boolean;
  /** Files at the root besides index.json to link (the pull clients). */
  clients: readonly string[];
}

/** A page to write: its path relative to the site root, and its HTML. */
export interface SitePage {
  path: string;
  html: string;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1.5rem; line-height: 1.45; color: #1b1f24; }
a { color: #0b5cad; }
table { border-collapse: collapse; margin: 0.8rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { font-size: 0.85em; background: #f6f8fa; padding: 0.05rem 0.25rem; border-radius: 3px; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; border-radius: 6px; }
pre code { padding: 0; background: none; }
.yanked { color: #a00; font-weight: bold; }
.filters { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 1rem 0; align-items: center; }
.filters input { flex: 1 1 18rem; padding: 0.4rem; font-size: 1rem; }
.filters select { padding: 0.35rem; font-size: 0.95rem; }
.target { display: inline-block; margin: 0 0.2rem 0.2rem 0; padding: 0 0.35rem; border: 1px solid #d0d7de; border-radius: 4px; font-size: 0.8rem; white-space: nowrap; }
.count { color: #57606a; }
nav { margin-bottom: 1rem; }
`;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function page(title: string, body: string, script = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
${script ? `<script>\n${script}\n</script>\n` : ''}</body>
</html>
`;
}

/** The version a model's page shows: the newest that is not yanked, else the newest. */
export function featuredVersion(model: IndexModel): IndexVersion {
  return (
    [...model.versions].sort((a, b) => semver.rcompare(a.version, b.version)).find((v) => !v.yanked) ??
    model.versions[0]!
  );
}

/** Renders index.html for a zoo index; links are relative, so the page works wherever the tree is served. */
export function renderSiteHtml(index: ZooIndex, options: SiteOptions = { signed: false, clients: [] }): string {
  const title = options.title ?? 'edgezoo model zoo';
  const tasks = [...new Set(index.models.map((m) => m.task))].sort();
  const formats = [
    ...new Set(index.models.flatMap((m) => m.versions.flatMap((v) => v.artifacts.map((a) => a.format)))),
  ].sort();
  const precisions = PRECISION_NAMES.filter((p) =>
    index.models.some((m) => m.versions.some((v) => v.artifacts.some((a) => a.precision === p))),
  );
  const rows = index.models.map((model) => {
    const version = featuredVersion(model);
    const targets = version.artifacts.map((a) => `${a.format}/${a.precision}`);
    const text = [model.name, model.description, model.task, ...model.tags].join(' ').toLowerCase();
    return [
      `<tr data-task="${esc(model.task)}" data-targets="${esc(targets.join(' '))}" data-text="${esc(text)}">`,
      `<td class="model"><a href="${esc(model.name)}/index.html">${esc(model.name)}</a><br><span class="description">${esc(model.description)}</span></td>`,
      `<td class="task">${esc(model.task)}</td>`,
      `<td class="version">${esc(version.version)}${version.yanked ? ` <span class="yanked">yanked</span>` : ''}${model.versions.length > 1 ? ` <span class="count">(${model.versions.length} versions)</span>` : ''}</td>`,
      `<td class="license">${esc(model.license)}</td>`,
      `<td class="targets">${targets.map((t) => `<span class="target">${esc(t)}</span>`).join('')}</td>`,
      '</tr>',
    ].join('');
  });
  const select = (id: string, label: string, values: string[]) =>
    `<label>${label} <select id="${id}"><option value="">any</option>${values.map((v) => `<option>${esc(v)}</option>`).join('')}</select></label>`;
  const downloads = [
    '<a href="index.json">index.json</a>',
    ...(options.signed ? ['<a href="index.json.sig">index.json.sig</a>'] : []),
    ...options.clients.map((c) => `<a href="${esc(c)}">${esc(c)}</a>`),
  ];
  const body = `<h1>${esc(title)}</h1>
<p>${index.models.length} model${index.models.length === 1 ? '' : 's'}. For machines and the pull clients: ${downloads.join(', ')}.
Pull with <code>python3 pull.py NAME</code>, <code>node pull.mjs NAME</code> or <code>edgezoo pull NAME --index URL-OF-THE-ZOO/index.json</code>.</p>
<div class="filters">
<input id="search" type="search" placeholder="Search models, tasks, tags" aria-label="search">
${select('task', 'task', tasks)}
${select('format', 'format', formats)}
${select('precision', 'precision', precisions)}
<span id="shown" class="count"></span>
</div>
<table id="models">
<thead><tr><th>model</th><th>task</th><th>version</th><th>license</th><th>artifacts</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
<p id="none" hidden>No model matches.</p>`;
  return page(title, body, `${FILTER_SCRIPT}\n${INDEX_URL_SCRIPT('index.json')}`);
}

/** Shows the rows that match the search text and every filter; a target matches format and precision together. */
const FILTER_SCRIPT = `const $ = (id) => document.getElementById(id);
function apply() {
  const words = $('search').value.toLowerCase().split(/\\s+/).filter(Boolean);
  const task = $('task').value, format = $('format').value, precision = $('precision').value;
  let shown = 0;
  for (const row of document.querySelectorAll('#models tbody tr')) {
    const targets = row.dataset.targets.split(' ').map((t) => t.split('/'));
    const ok = words.every((w) => row.dataset.text.includes(w)) &&
      (!task || row.dataset.task === task) &&
      targets.some(([f, p]) => (!format || f === format) && (!precision || p === precision));
    row.hidden = !ok;
    if (ok) shown++;
  }
  $('shown').textContent = shown + ' of ' + document.querySelectorAll('#models tbody tr').length + ' shown';
  $('none').hidden = shown > 0;
}
for (const id of ['search', 'task', 'format', 'precision']) $(id).addEventListener('input', apply);
apply();`;

/**
 * The cards say `--index URL-OF-THE-ZOO/index.json`: a page knows that URL, so a line of script
 * fills it in where the page is served (left as it is on a file: URL).
 */
const INDEX_URL_SCRIPT = (indexPath: string) => `if (location.protocol !== 'file:') {
  const url = new URL(${JSON.stringify(indexPath)}, location.href).href;
  for (const code of document.querySelectorAll('code')) code.textContent = code.textContent.replaceAll('URL-OF-THE-ZOO/index.json', url);
}`;

const markdown = new MarkdownIt({ html: false, linkify: false, typographer: false });

/** A card's Markdown as HTML, without its front matter, with relative links prefixed by `base` (e.g. `1.0.0/`). */
export function renderCardHtml(card: string, base = ''): string {
  const text = card.replace(/^---\n[\s\S]*?\n---\n/, '');
  const tokens = markdown.parse(text, {});
  if (base) {
    const relative = (href: string) => !/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(href);
    const visit = (list: typeof tokens) => {
      for (const token of list) {
        if (token.type === 'link_open') {
          const href = token.attrGet('href');
          if (typeof href === 'string' && relative(href)) token.attrSet('href', base + href);
        }
        if (token.children) visit(token.children);
      }
    };
    visit(tokens);
  }
  return markdown.renderer.render(tokens, markdown.options, {});
}

/** A model's page and one page per version, each its card rendered; `cards` maps a version to its README.md text. */
export function renderModelPages(model: IndexModel, cards: ReadonlyMap<string, string>): SitePage[] {
  const featured = featuredVersion(model);
  const versionLinks = (prefix: string) =>
    model.versions
      .map(
        (v) =>
          `<a href="${prefix}${esc(v.version)}/index.html">${esc(v.version)}</a>${v.yanked ? ` <span class="yanked" title="${esc(v.yanked.reason)}">yanked: ${esc(v.yanked.reason)}</span>` : ''}`,
      )
      .join(', ');
  const pages: SitePage[] = [];
  const render = (version: IndexVersion, depth: 1 | 2) => {
    const up = depth === 1 ? '../' : '../../';
    const base = depth === 1 ? `${version.version}/` : '';
    const card = cards.get(version.version);
    const banner = version.yanked
      ? `<p class="yanked">This version is yanked: ${esc(version.yanked.reason)}. pull skips it unless it is asked for exactly.</p>`
      : '';
    const body = `<nav><a href="${up}index.html">all models</a> · ${esc(model.name)} versions: ${versionLinks(depth === 1 ? '' : '../')}</nav>
${banner}
<article class="card">
${card === undefined ? `<p>No model card for ${esc(model.name)} ${esc(version.version)}.</p>` : renderCardHtml(card, base)}
</article>`;
    return page(`${model.name} ${version.version}`, body, INDEX_URL_SCRIPT(`${up}index.json`));
  };
  pages.push({ path: `${model.name}/index.html`, html: render(featured, 1) });
  for (const version of model.versions)
    pages.push({ path: `${model.name}/${version.version}/index.html`, html: render(version, 2) });
  return pages;
}
