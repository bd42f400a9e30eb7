/**
 * Where a zoo published to GitHub lives, for the publisher and for `pull --from github:OWNER/REPO`.
 *
 * Every model version is a release tagged `<model>@<version>`. The zoo's index.json, its
 * signature and the pull clients are assets of one more release, tagged `edgezoo-index`, that
 * each publish updates in place (a "rolling" release, marked as a prerelease and never as the
 * latest release). Release assets are downloaded from
 * `https://github.com/OWNER/REPO/releases/download/TAG/NAME` without the API (and its rate
 * limit), so the index's URLs are relative to its own: `../<model>%40<version>/<file>`.
 */
import { UsageError } from '../errors.js';

export const INDEX_RELEASE_TAG = 'edgezoo-index';
export const DEFAULT_GITHUB_URL = 'https://github.com';

/** `github:OWNER/REPO` split, or a usage error. */
export function parseGitHubTarget(spec: string, flag: string): { owner: string; repo: string } {
  const match = /^github:([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(spec);
  if (!match || match[2] === '.' || match[2] === '..')
    throw new UsageError(`${flag} ${spec} is not github:OWNER/REPO`, 'e.g. github:acme/model-zoo');
  return { owner: match[1]!, repo: match[2]! };
}

/** The download URL of a release asset. `webUrl` is https://github.com or a GitHub Enterprise host. */
export function releaseAssetUrl(
  owner: string,
  repo: string,
  tag: string,
  name: string,
  webUrl = DEFAULT_GITHUB_URL,
): URL {
  const root = webUrl.endsWith('/') ? webUrl : `${webUrl}/`;
  return new URL(
    `${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/releases/download/${encodeURIComponent(tag)}/${encodeURIComponent(name)}`,
    root,
  );
}

/** The URL of a GitHub-published zoo's index.json. */
export function githubIndexUrl(owner: string, repo: string, webUrl = DEFAULT_GITHUB_URL): URL {
  return releaseAssetUrl(owner, repo, INDEX_RELEASE_TAG, 'index.json', webUrl);
}

/** The URL of a version's file as the GitHub index names it: relative to index.json. */
export function relativeReleaseUrl(tag: string, name: string): string {
  return `../${encodeURIComponent(tag)}/${encodeURIComponent(name)}`;
}
