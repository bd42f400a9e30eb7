/** The zoo index `pull` and `list` read: --index, --from github:OWNER/REPO, EDGEZOO_INDEX or the project's own zoo. */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { EdgezooError, UsageError } from '../errors.js';
import { checkFetchableUrl } from '../fetch/url-policy.js';
import { artifactPaths } from '../paths.js';
import { DEFAULT_GITHUB_URL, githubIndexUrl, parseGitHubTarget } from '../publish/github-layout.js';
import { indexCredentialsFromEnv, indexLocation, loadIndex, type LoadedIndex } from '../publish/pull.js';
import { INDEX_FILE, parsePublicKey } from '../zoo/index.js';
import type { CliContext } from './context.js';

export interface IndexFlags {
  index?: string;
  from?: string;
  githubUrl?: string;
  publicKey?: string;
}

/** Adds the options that name an index and its key. */
export function addIndexOptions(command: Command): Command {
  return command
    .option(
      '--index <url|path>',
      'index.json URL or path (default EDGEZOO_INDEX, else artifacts/zoo/index.json of the project); credentials from EDGEZOO_INDEX_TOKEN or EDGEZOO_INDEX_USER/EDGEZOO_INDEX_PASSWORD',
    )
    .option(
      '--from <github:OWNER/REPO>',
      'a zoo published to GitHub releases by `edgezoo publish --to github:OWNER/REPO`',
    )
    .option('--github-url <url>', `GitHub web root for --from (default EDGEZOO_GITHUB_URL, else ${DEFAULT_GITHUB_URL})`)
    .option(
      '--public-key <key>',
      'verify index.json.sig with this ed25519 public key (PEM, base64 SPKI, or a file); default EDGEZOO_PUBLIC_KEY',
    );
}

/** `--public-key` (a key or a file holding one), else EDGEZOO_PUBLIC_KEY, else none. */
export async function publicKeyFrom(flag: string | undefined): Promise<KeyObject | undefined> {
  if (flag !== undefined) {
    let text = flag;
    try {
      if ((await stat(flag)).isFile()) text = await readFile(flag, 'utf8');
    } catch {
      // Not a file: the key itself.
    }
    return parsePublicKey(text, '--public-key');
  }
  const env = process.env.EDGEZOO_PUBLIC_KEY;
  return env ? parsePublicKey(env) : undefined;
}

/** Where the index is, from the flags, the environment or the project. */
export async function indexUrlFromFlags(ctx: CliContext, flags: IndexFlags): Promise<URL> {
  if (flags.from !== undefined && flags.index !== undefined) throw new UsageError('give --index or --from, not both');
  if (flags.from !== undefined) {
    const { owner, repo } = parseGitHubTarget(flags.from, '--from');
    const web = flags.githubUrl ?? process.env.EDGEZOO_GITHUB_URL ?? DEFAULT_GITHUB_URL;
    return githubIndexUrl(owner, repo, checkFetchableUrl(web).href);
  }
  if (flags.githubUrl !== undefined) throw new UsageError('--github-url goes with --from github:OWNER/REPO');
  const given = flags.index ?? process.env.EDGEZOO_INDEX;
  if (given !== undefined) return indexLocation(given);
  const zoo = artifactPaths(ctx.projectRoot()).zoo;
  if (existsSync(path.join(zoo, INDEX_FILE))) return indexLocation(zoo);
  throw new EdgezooError(
    'INDEX_NOT_GIVEN',
    'no zoo to read: give --index URL-of-index.json or --from github:OWNER/REPO, or set EDGEZOO_INDEX',
    {
      hint: `in an edgezoo project, the default is its own zoo (${path.join('artifacts', 'zoo', INDEX_FILE)}, written by edgezoo build)`,
      exitCode: 2,
    },
  );
}

/** Loads the index the flags name, verified when a public key is configured. */
export async function openIndex(ctx: CliContext, flags: IndexFlags): Promise<LoadedIndex> {
  const location = await indexUrlFromFlags(ctx, flags);
  const publicKey = await publicKeyFrom(flags.publicKey);
  return loadIndex(location, {
    ...(publicKey ? { publicKey } : {}),
    headers: indexCredentialsFromEnv(),
  });
}
