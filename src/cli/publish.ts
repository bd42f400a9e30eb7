import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { EdgezooError, UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import {
  DirectoryPublisher,
  GitHubReleasesPublisher,
  parseModelSpec,
  type Publisher,
  type PublishEvent,
} from '../publish/index.js';
import { generateSigningKeyPair, parsePrivateKey, writeIndex, yankVersion } from '../zoo/index.js';
import { formatBytes } from '../util/format.js';
import type { CliContext } from './context.js';

interface PublishFlags {
  to?: string;
  zoo?: string;
  json?: boolean;
  genKey?: string;
  yank?: string;
  reason?: string;
  githubApi?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('publish')
    .description(
      'Publish the zoo: to a folder that is also a static site (default), or as GitHub releases (one per model@version)',
    )
    .option('--to <target>', 'dir:PATH (default dir:artifacts/site) or github:OWNER/REPO (token from GITHUB_TOKEN)')
    .option('--zoo <dir>', 'the zoo to publish (default artifacts/zoo of the project)')
    .option('--json', 'print a JSON report for machines')
    .option(
      '--yank <name@version>',
      'mark a version of the zoo yanked (pull skips it unless asked exactly), rewrite the index, and stop',
    )
    .option('--reason <text>', 'why the version is yanked (with --yank)')
    .option(
      '--gen-key <dir>',
      'write a new ed25519 signing key pair to DIR (edgezoo-signing.key, edgezoo-signing.pub) and stop',
    )
    .option('--github-api <url>', 'GitHub REST API root (default https://api.github.com; for GitHub Enterprise)')
    .addHelpText(
      'after',
      `
Signing: with EDGEZOO_SIGNING_KEY (PEM or base64 PKCS8 ed25519) set, index.json.sig is written
next to index.json; users set EDGEZOO_PUBLIC_KEY (or pass --public-key) to have pull verify it.
A published version is immutable: different bytes under a published version are refused.`,
    )
    .action(async (flags: PublishFlags) => {
      if (flags.genKey !== undefined) return generateKey(ctx, flags.genKey, flags.json === true);
      const zooDir = path.resolve(flags.zoo ?? artifactPaths(ctx.projectRoot()).zoo);
      const signingKey = process.env.EDGEZOO_SIGNING_KEY ? parsePrivateKey(process.env.EDGEZOO_SIGNING_KEY) : undefined;
      if (flags.yank !== undefined) {
        const { name, range } = parseModelSpec(flags.yank);
        if (range === undefined || flags.reason === undefined)
          throw new UsageError(
            '--yank needs NAME@VERSION and --reason TEXT',
            'e.g. edgezoo publish --yank tiny-net@1.1.0 --reason "wrong labels"',
          );
        const record = await yankVersion(zooDir, name, range, flags.reason);
        await writeIndex(zooDir, signingKey ? { signingKey } : {});
        if (flags.json)
          ctx.print(JSON.stringify({ name, version: range, yanked: { reason: record.reason, at: record.at } }));
        else ctx.print(`yanked ${name}@${range}: ${record.reason} (run publish to propagate it)`);
        return;
      }
      if (flags.reason !== undefined) throw new UsageError('--reason goes with --yank');
      const publisher = makePublisher(flags, ctx);
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
      if (!signingKey) ctx.warn('note: EDGEZOO_SIGNING_KEY is not set, so the index is not signed');
    });
}

function makePublisher(flags: PublishFlags, ctx: CliContext): Publisher {
  const to = flags.to ?? 'dir:artifacts/site';
  if (to.startsWith('dir:')) {
    const dir = to.slice(4);
    if (dir === '') throw new UsageError('--to dir: needs a folder, e.g. --to dir:public');
    return new DirectoryPublisher(path.resolve(ctx.projectRoot(), dir));
  }
  if (to.startsWith('github:')) {
    const match = /^github:([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(to);
    if (!match) throw new UsageError(`--to ${to} is not github:OWNER/REPO`);
    const token = process.env.GITHUB_TOKEN;
    if (!token)
      throw new EdgezooError('GITHUB_AUTH', 'publishing to GitHub needs a token in GITHUB_TOKEN', {
        hint: 'a token with contents:write on the repository (in Actions: permissions: contents: write)',
      });
    return new GitHubReleasesPublisher({
      owner: match[1]!,
      repo: match[2]!,
      token,
      ...(flags.githubApi ? { baseUrl: flags.githubApi } : {}),
      // Only for the test suite's loopback GitHub: short waits instead of real seconds.
      ...(process.env.EDGEZOO_TEST_GITHUB_FAST === '1' ? { waitUnitMs: 5, spaceWrites: false } : {}),
    });
  }
  throw new UsageError(`--to ${to} is not dir:PATH or github:OWNER/REPO`);
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
