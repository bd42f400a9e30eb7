import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { EdgezooError, UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import { DirectoryPublisher } from '../publish/directory.js';
import { parseGitHubTarget } from '../publish/github-layout.js';
import { publishRefusals } from '../publish/gates.js';
import { parseModelSpec } from '../publish/pull.js';
import type { Publisher, PublishEvent } from '../publish/types.js';
import {
  generateSigningKeyPair,
  parsePrivateKey,
  readManifestIfAny,
  versionDir,
  writeIndex,
  yankVersion,
} from '../zoo/index.js';
import { formatBytes } from '../util/format.js';
import type { CliContext } from './context.js';
import { projectRecipeVersions } from './recipe-args.js';

interface PublishFlags {
  to?: string;
  zoo?: string;
  json?: boolean;
  genKey?: string;
  yank?: string;
  reason?: string;
  githubApi?: string;
  githubUrl?: string;
  siteUrl?: string;
  force?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('publish')
    .description(
      'Publish the zoo: to a folder that is also a static site (default), or as GitHub releases (one per model@version, plus the index)',
    )
    .option('--to <target>', 'dir:PATH (default dir:artifacts/site) or github:OWNER/REPO (token from GITHUB_TOKEN)')
    .option('--zoo <dir>', 'the zoo to publish (default artifacts/zoo of the project)')
    .option('--json', 'print a JSON report for machines')
    .option(
      '--yank <name@version>',
      'mark a version yanked (pull skips it unless asked exactly): in the zoo, and on the --to target when given; then stop',
    )
    .option('--reason <text>', 'why the version is yanked (with --yank)')
    .option(
      '--force',
      'publish versions whose last build failed or that no recipe declares any more (never one with no artifact)',
    )
    .option(
      '--gen-key <dir>',
      'write a new ed25519 signing key pair to DIR (edgezoo-signing.key, edgezoo-signing.pub) and stop',
    )
    .option('--github-api <url>', 'GitHub REST API root (default https://api.github.com; for GitHub Enterprise)')
    .option('--github-url <url>', 'GitHub web root the release downloads are under (default https://github.com)')
    .option('--site-url <url>', 'dir: the public URL the folder will be served at (the pull clients default to it)')
    .addHelpText(
      'after',
      `
Signing: with EDGEZOO_SIGNING_KEY (PEM or base64 PKCS8 ed25519) set, index.json.sig is written
next to index.json; users set EDGEZOO_PUBLIC_KEY (or pass --public-key) to have pull verify it.
A published version is immutable: different bytes under a published version are refused.
Refused unless --force: a version whose last build failed, and a version no recipe declares
(\`edgezoo zoo prune\` removes those from the zoo). Always refused: a version with no artifact.
GitHub: each version is a release tagged <model>@<version>; index.json, index.json.sig, pull.mjs
and pull.py are assets of the release tagged edgezoo-index, replaced by every publish
(edgezoo pull MODEL --from github:OWNER/REPO reads them).
Every target also gets pull.mjs and pull.py: zero-dependency clients (Node >= 18, Python >= 3.9).`,
    )
    .action(async (flags: PublishFlags) => {
      if (flags.genKey !== undefined) return generateKey(ctx, flags.genKey, flags.json === true);
      const zooDir = path.resolve(flags.zoo ?? artifactPaths(ctx.projectRoot()).zoo);
      const signingKey = process.env.EDGEZOO_SIGNING_KEY ? parsePrivateKey(process.env.EDGEZOO_SIGNING_KEY) : undefined;
      if (flags.yank !== undefined) return yank(ctx, flags, zooDir, signingKey);
      if (flags.reason !== undefined) throw new UsageError('--reason goes with --yank');
      await checkGates(ctx, zooDir, flags);
      const publisher = await makePublisher(flags, ctx);
      const report = await publisher.publish(zooDir, {
        ...(signingKey ? { signingKey } : {}),
        onEvent: (event) => (flags.json ? undefined : printEvent(ctx, event)),
      });
      if (flags.json) {
        ctx.print(JSON.stringify(report, null, 2));
        return;
      }
      const changed = report.versions.filter((v) => v.state !== 'unchanged').length;
      ctx.print(
        `published to ${report.target}: ${report.versions.length} version(s), ${changed} new or completed; ${report.filesUploaded} file(s) uploaded (${formatBytes(report.bytesUploaded)}), ${report.filesSkipped} already there`,
      );
      if (report.indexUrl) ctx.print(`index: ${report.indexUrl}`);
      if (!signingKey) ctx.warn('note: EDGEZOO_SIGNING_KEY is not set, so the index is not signed');
    });
}

/** The publish gates (src/publish/gates.ts): refuse, or with --force warn, before anything is uploaded. */
async function checkGates(ctx: CliContext, zooDir: string, flags: PublishFlags): Promise<void> {
  const recipes = await projectRecipeVersions(ctx.projectRoot());
  if (!recipes) ctx.warn('note: no recipes/ folder here, so versions are not checked against recipes');
  const refusals = await publishRefusals(zooDir, recipes ? { recipes } : {});
  const blocking = refusals.filter((r) => !r.forceable || !flags.force);
  for (const refusal of refusals.filter((r) => r.forceable && flags.force))
    ctx.warn(`warning: publishing anyway (--force): ${refusal.message}`);
  if (blocking.length === 0) return;
  const forceable = blocking.every((r) => r.forceable);
  throw new EdgezooError(
    'PUBLISH_REFUSED',
    `refusing to publish ${blocking.length} version${blocking.length === 1 ? '' : 's'} of ${zooDir}:\n${blocking.map((r) => `  ${r.message}`).join('\n')}`,
    {
      hint: forceable
        ? 'fix and rebuild; `edgezoo zoo prune` removes versions no recipe declares; --force publishes them as they are'
        : 'a version with no artifact is never published: fix the build, or remove it with `edgezoo zoo prune`',
    },
  );
}

async function yank(
  ctx: CliContext,
  flags: PublishFlags,
  zooDir: string,
  signingKey: ReturnType<typeof parsePrivateKey> | undefined,
): Promise<void> {
  const { name, range } = parseModelSpec(flags.yank!);
  if (range === undefined || flags.reason === undefined)
    throw new UsageError(
      '--yank needs NAME@VERSION and --reason TEXT',
      'e.g. edgezoo publish --yank tiny-net@1.1.0 --reason "wrong labels"',
    );
  const options = signingKey ? { signingKey } : {};
  const inZoo = (await readManifestIfAny(versionDir(zooDir, name, range))) !== undefined;
  // The zoo keeps the record too (a later publish to another target carries it), when it has the version.
  let record = inZoo || flags.to === undefined ? await yankVersion(zooDir, name, range, flags.reason) : undefined;
  if (record) await writeIndex(zooDir, options);
  let where = 'in the zoo (run publish to propagate it)';
  if (flags.to !== undefined) {
    const publisher = await makePublisher(flags, ctx);
    record = await publisher.yank(name, range, flags.reason, options);
    where = `on ${flags.to}`;
  }
  if (flags.json)
    ctx.print(JSON.stringify({ name, version: range, yanked: { reason: record!.reason, at: record!.at }, where }));
  else ctx.print(`yanked ${name}@${range} ${where}: ${record!.reason}`);
}

async function makePublisher(flags: PublishFlags, ctx: CliContext): Promise<Publisher> {
  const to = flags.to ?? 'dir:artifacts/site';
  if (to.startsWith('dir:')) {
    const dir = to.slice(4);
    if (dir === '') throw new UsageError('--to dir: needs a folder, e.g. --to dir:public');
    return new DirectoryPublisher(
      path.resolve(ctx.projectRoot(), dir),
      flags.siteUrl ? { siteUrl: flags.siteUrl } : {},
    );
  }
  if (to.startsWith('github:')) {
    if (flags.siteUrl !== undefined) throw new UsageError('--site-url goes with --to dir:PATH');
    const { owner, repo } = parseGitHubTarget(to, '--to');
    const token = process.env.GITHUB_TOKEN;
    if (!token)
      throw new EdgezooError('GITHUB_AUTH', 'publishing to GitHub needs a token in GITHUB_TOKEN', {
        hint: 'a token with contents:write on the repository (in Actions: permissions: contents: write)',
      });
    // Loaded here: octokit is the heaviest import of the CLI, and only this target needs it.
    const { GitHubReleasesPublisher } = await import('../publish/github.js');
    return new GitHubReleasesPublisher({
      owner,
      repo,
      token,
      ...(flags.githubApi ? { baseUrl: flags.githubApi } : {}),
      ...(flags.githubUrl
        ? { webUrl: flags.githubUrl }
        : flags.githubApi
          ? { webUrl: webRootOf(flags.githubApi) }
          : {}),
      // Only for the test suite's loopback GitHub: short waits instead of real seconds.
      ...(process.env.EDGEZOO_TEST_GITHUB_FAST === '1' ? { waitUnitMs: 5, spaceWrites: false } : {}),
    });
  }
  throw new UsageError(`--to ${to} is not dir:PATH or github:OWNER/REPO`);
}

/** The web root of a GitHub Enterprise API root (https://HOST/api/v3 -> https://HOST); the API root itself otherwise. */
function webRootOf(apiRoot: string): string {
  const url = new URL(apiRoot);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  return url.pathname.replace(/\/+$/, '').endsWith('/api/v3') ? url.origin : apiRoot;
}

function printEvent(ctx: CliContext, event: PublishEvent): void {
  if (event.kind === 'file' && event.state !== 'skipped')
    ctx.warn(`${event.state} ${event.name}@${event.version} ${event.file} (${formatBytes(event.bytes)})`);
  else if (event.kind === 'version') ctx.warn(`${event.name}@${event.version}: ${event.state}`);
  else if (event.kind === 'note') ctx.warn(`note: ${event.message}`);
}

async function generateKey(ctx: CliContext, dir: string, json: boolean): Promise<void> {
  const keys = generateSigningKeyPair();
  const target = path.resolve(dir);
  await mkdir(target, { recursive: true });
  const privatePath = path.join(target, 'edgezoo-signing.key');
  const publicPath = path.join(target, 'edgezoo-signing.pub');
  // wx: never overwrite a key someone may already have published the public half of.
  try {
    await writeFile(privatePath, keys.privateKeyPem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new EdgezooError('KEY_EXISTS', `${privatePath} already exists; not overwriting a signing key`);
    throw error;
  }
  await writeFile(publicPath, keys.publicKeyPem, { flag: 'w' });
  if (json) {
    ctx.print(
      JSON.stringify({ privateKeyFile: privatePath, publicKeyFile: publicPath, publicKey: keys.publicKeyBase64 }),
    );
    return;
  }
  ctx.print(`wrote ${privatePath} (keep it secret) and ${publicPath}`);
  ctx.print(`publisher: export EDGEZOO_SIGNING_KEY="$(cat ${privatePath})"`);
  ctx.print(`users:     export EDGEZOO_PUBLIC_KEY=${keys.publicKeyBase64}`);
}
